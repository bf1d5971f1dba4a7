//! Byte-exact get and set of one scalar in a YAML values file. No I/O.
