//! Compile-time errors of `#[derive(EntityMapping)]`, checked with trybuild. Each
//! topic folder under `tests/ui/` holds inputs and the `.stderr` the compiler must
//! print; regenerate with `TRYBUILD=overwrite` and read the result.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*/*.rs");
}
