//! Small guest programs, built from source here, that each check one area of
//! the emulator and report through the debug ports.
