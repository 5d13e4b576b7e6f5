"""netctl as a CNI plugin (spec 1.0 and 1.1): the front door a container runtime execs.

``spec`` (environment, errors, versions), ``netconf`` (the network configuration and the
per-attachment arguments, mapped onto netctl's requests) and ``result`` (the Result JSON)
are pure: no I/O, no click, nothing heavy imported.  ``ops`` runs ADD/DEL/CHECK/GC/STATUS
through the one plan executor (service/plan.py) that ``apply`` and ``batch`` use, and
``plugin`` is the process shell: read stdin and the environment, print one JSON document.
"""
