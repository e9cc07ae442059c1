//! Build script: (being written) packs disk/ into the site archive; passes the linker address.
fn main() {}
