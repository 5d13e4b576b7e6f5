function _netctl_completion
    set -l response (env _NETCTL_COMPLETE=fish_complete COMP_WORDS=(commandline -cp) COMP_CWORD=(commandline -t) netctl)

    for completion in $response
        set -l metadata (string split -m 1 "," -- $completion)

        if test "$metadata[1]" = dir
            __fish_complete_directories $metadata[2]
        else if test "$metadata[1]" = file
            __fish_complete_path $metadata[2]
        else if test "$metadata[1]" = plain
            echo $metadata[2]
        end
    end
end

complete --erase --command netctl  # drop rules loaded before for another "netctl"
complete --no-files --command netctl --arguments "(_netctl_completion)"
