"""View-models: the GUI's flow logic as QObjects with signals, testable without a window."""
