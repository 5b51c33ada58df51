//! Who may do what. For now: browsers from other sites are kept out
//! ([`sites`]), whether or not the server asks for tokens.

pub mod sites;
