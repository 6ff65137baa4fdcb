//! Sync: pure planning (desired artifacts per service), the mark-and-sweep
//! diff, and the reconcile loop that drives a `HostNetwork`.
