// `sqlx_macros::migrate!` embeds the migration files at compile time, but a
// proc-macro cannot tell Cargo to watch a directory: this does, so a new or
// edited migration is never left out of the binary.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
