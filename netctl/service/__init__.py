"""Operations, one module per noun; each mutating one is a locked transaction with undo."""
