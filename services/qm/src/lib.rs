//! The qm command line: run the system, declare demand, inspect state
