//! `bv` keeps its own copy of the daemon's defaults (it links no daemon code); they must agree.

#[test]
fn bv_and_the_daemon_default_to_the_same_socket() {
    assert_eq!(bv::cli::DEFAULT_SOCKET, bv_host::config::DEFAULT_SOCKET);
}
