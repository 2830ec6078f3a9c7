//! Open-loop load generator for Quartermaster (stub until issue 7)
