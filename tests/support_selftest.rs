//! Kernel tier: the namespace fixture itself (created, usable, removed on drop).
mod support;

use support::netns::{NetNs, veth};

#[test]
fn namespaces_are_created_connected_and_removed() {
    if !support::kernel_tier_available(&["ip", "ping"]) {
        return;
    }
    let name;
    {
        let a = NetNs::new("self-a");
        let b = NetNs::new("self-b");
        name = a.name.clone();
        veth(&a, "va", "10.200.0.1/30", &b, "vb", "10.200.0.2/30");
        let out = a.exec_unchecked(&["ping", "-c1", "-W2", "10.200.0.2"]);
        assert!(out.status.success(), "ping across the veth failed");
        assert!(std::path::Path::new(&a.path()).exists());
    }
    assert!(
        !std::path::Path::new(&format!("/run/netns/{name}")).exists(),
        "namespace left behind"
    );
}
