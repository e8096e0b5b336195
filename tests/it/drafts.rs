//! The draft commands: keygen, init, draft new, approve, cancel, expire, show, verify.
