//! Open-loop load generator for Quartermaster. Not built yet (issue 7): see README.md.
