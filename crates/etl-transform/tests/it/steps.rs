//! Declarative steps, joins, aggregates and checks against small hand-computed expectations;
//! their error messages as snapshots.

use etl_transform::{ChecksSpec, Transform, TransformSpec, Transformer};
use polars::prelude::*;
use serde_json::{Value, json};

/// users: 1 ann (vip), 2 bob, 3 cy (no email); orders: two for ann, one for bob, one for a
/// user who does not exist.
fn tables() -> Transformer {
    let users = df!(
        "id" => [1i64, 2, 3],
        "name" => ["ann", "bob", "cy"],
        "email" => [Some("ann@x.io"), Some("bob@x.io"), None],
        "vip" => [true, false, false],
    )
    .unwrap();
    let orders = df!(
        "order_id" => [10i64, 11, 12, 13],
        "user_id" => [1i64, 1, 2, 9],
        "total" => [5.0f64, 7.5, 20.0, 1.0],
        "status" => ["paid", "refunded", "paid", "paid"],
    )
    .unwrap();
    let more_users = df!(
        "id" => [4i64],
        "name" => ["dee"],
        "team" => ["red"],
    )
    .unwrap();
    let tagged = df!("id" => [1i64, 2]).unwrap();
    let tags = Series::new(
        "tags".into(),
        [
            Series::new("".into(), ["a", "b"]),
            Series::new("".into(), Vec::<&str>::new()),
        ],
    );
    let mut tagged = tagged;
    tagged.with_column(tags.into_column()).unwrap();
    let mut t = Transformer::new();
    t.add_frame("users", users.lazy()).unwrap();
    t.add_frame("orders", orders.lazy()).unwrap();
    t.add_frame("more_users", more_users.lazy()).unwrap();
    t.add_frame("tagged", tagged.lazy()).unwrap();
    t
}

fn spec(from: &str, steps: &Value) -> TransformSpec {
    serde_json::from_value(json!({ "from": from, "steps": steps })).unwrap()
}

/// Transform `out`: `steps` on `from`, built; or its config errors, one a line, each with the
/// word it underlines.
fn build(from: &str, steps: &Value) -> Result<Transform, String> {
    etl_transform::build("out", &spec(from, steps)).map_err(|errors| {
        errors
            .iter()
            .map(|e| match &e.token {
                Some(token) => format!("{e}\n  underlined: {token}"),
                None => e.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// Runs steps on `from` and returns the result.
#[allow(clippy::needless_pass_by_value)] // `json!` literals at every call
fn run(from: &str, steps: Value) -> DataFrame {
    let mut t = tables();
    t.run(&build(from, &steps).unwrap()).unwrap();
    t.collect("out").unwrap()
}

/// The error of building or running steps on `from`.
#[allow(clippy::needless_pass_by_value)] // `json!` literals at every call
fn error(from: &str, steps: Value) -> String {
    let mut t = tables();
    let transform = match build(from, &steps) {
        Ok(transform) => transform,
        Err(e) => return e,
    };
    match t.run(&transform) {
        Err(e) => e.to_string(),
        Ok(()) => match t.collect("out") {
            Err(e) => e.to_string(),
            Ok(df) => panic!("no error; got {df}"),
        },
    }
}

fn ints(df: &DataFrame, name: &str) -> Vec<Option<i64>> {
    df.column(name)
        .unwrap()
        .cast(&DataType::Int64)
        .unwrap()
        .i64()
        .unwrap()
        .iter()
        .collect()
}

fn floats(df: &DataFrame, name: &str) -> Vec<Option<f64>> {
    df.column(name)
        .unwrap()
        .cast(&DataType::Float64)
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .collect()
}

fn texts(df: &DataFrame, name: &str) -> Vec<Option<String>> {
    df.column(name)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|s| s.map(str::to_owned))
        .collect()
}

fn names(df: &DataFrame) -> Vec<String> {
    df.get_column_names()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn select_rename_and_limit() {
    let df = run(
        "users",
        json!([{"select": ["id", {"who": "name"}]}, {"rename": {"id": "user_id"}}, {"limit": 2}]),
    );
    assert_eq!(names(&df), ["user_id", "who"]);
    assert_eq!(ints(&df, "user_id"), [Some(1), Some(2)]);
}

#[test]
fn filter_and_with_columns_use_expressions() {
    let df = run(
        "orders",
        json!([
            {"filter": "status = 'paid' and total >= 5"},
            {"with_columns": {"double": "total * 2", "big": "double > 20"}}
        ]),
    );
    assert_eq!(ints(&df, "order_id"), [Some(10), Some(12)]);
    assert_eq!(floats(&df, "double"), [Some(10.0), Some(40.0)]);
    let big: Vec<Option<bool>> = df.column("big").unwrap().bool().unwrap().iter().collect();
    assert_eq!(big, [Some(false), Some(true)]);
}

#[test]
fn every_join_kind() {
    let join = |how: &str| {
        run(
            "users",
            json!([
                {"join": {"with": "orders", "left_on": "id", "right_on": "user_id", "how": how}},
                {"sort": ["id"]}
            ]),
        )
    };
    // inner: ann twice, bob once.
    assert_eq!(ints(&join("inner"), "id"), [Some(1), Some(1), Some(2)]);
    // left: cy too, without orders.
    let left = join("left");
    assert_eq!(ints(&left, "id"), [Some(1), Some(1), Some(2), Some(3)]);
    assert_eq!(ints(&left, "order_id")[3], None);
    // full: the order of user 9 too, its key in the one `id` column.
    let full = join("full");
    assert_eq!(full.height(), 5);
    assert!(ints(&full, "id").contains(&Some(9)));
    // semi: users with orders, once each, no order columns.
    let semi = join("semi");
    assert_eq!(ints(&semi, "id"), [Some(1), Some(2)]);
    assert_eq!(names(&semi), ["id", "name", "email", "vip"]);
    // anti: users without orders.
    assert_eq!(ints(&join("anti"), "id"), [Some(3)]);
}

#[test]
fn joins_on_several_keys_with_a_suffix_for_clashes() {
    let df = run(
        "users",
        json!([{"join": {"with": "more_users", "on": ["name"], "how": "left", "suffix": "_other"}}]),
    );
    assert!(
        names(&df).contains(&"id_other".to_owned()),
        "{:?}",
        names(&df)
    );
    let df = run(
        "users",
        json!([{"join": {"with": "users", "on": ["id", "name"], "how": "inner", "suffix": "_2"}}]),
    );
    assert_eq!(df.height(), 3);
    assert!(names(&df).contains(&"email_2".to_owned()));
}

#[test]
fn keys_joins_as_on_does_and_both_together_are_refused() {
    let join = |key: &str| {
        run(
            "users",
            json!([{"join": {"with": "more_users", key: ["name"], "how": "left", "suffix": "_other"}}]),
        )
    };
    assert_eq!(join("keys"), join("on"));
    assert_eq!(
        error(
            "users",
            json!([{"join": {"with": "orders", "on": "id", "keys": "id"}}])
        ),
        "`transforms.out.steps.[0].join.keys`: `keys` and `on` are the same key, given twice; \
         keep one of the two"
    );
}

#[test]
fn every_aggregate() {
    let df = run(
        "orders",
        json!([
            {"group_by": ["status"], "agg": {
                "rows": "count",
                "with_user": {"count": "user_id"},
                "users": {"count_distinct": "user_id"},
                "sum": {"sum": "total"},
                "mean": {"mean": "total"},
                "min": {"min": "total"},
                "max": {"max": "total"},
                "first": {"first": "order_id"},
                "last": {"last": "order_id"}
            }},
            {"sort": "status"}
        ]),
    );
    // paid: 10 (u1, 5.0), 12 (u2, 20.0), 13 (u9, 1.0); refunded: 11 (u1, 7.5).
    assert_eq!(
        texts(&df, "status"),
        [Some("paid".into()), Some("refunded".into())]
    );
    assert_eq!(ints(&df, "rows"), [Some(3), Some(1)]);
    assert_eq!(ints(&df, "with_user"), [Some(3), Some(1)]);
    assert_eq!(ints(&df, "users"), [Some(3), Some(1)]);
    assert_eq!(floats(&df, "sum"), [Some(26.0), Some(7.5)]);
    let mean = floats(&df, "mean");
    assert!((mean[0].unwrap() - 26.0 / 3.0).abs() < 1e-12);
    assert_eq!(floats(&df, "min"), [Some(1.0), Some(7.5)]);
    assert_eq!(floats(&df, "max"), [Some(20.0), Some(7.5)]);
    assert_eq!(ints(&df, "first"), [Some(10), Some(11)]);
    assert_eq!(ints(&df, "last"), [Some(13), Some(11)]);
}

#[test]
fn sort_fill_null_cast_distinct_explode_union() {
    let df = run("orders", json!([{"sort": [{"total": "desc"}]}]));
    assert_eq!(
        ints(&df, "order_id"),
        [Some(12), Some(11), Some(10), Some(13)]
    );

    let df = run("users", json!([{"fill_null": {"email": "none"}}]));
    assert_eq!(texts(&df, "email")[2], Some("none".into()));

    let df = run(
        "orders",
        json!([{"cast": {"user_id": "float64", "order_id": "string"}},
                {"with_columns": {"whole": "round(total, 0)"}}, {"cast": {"whole": "int64"}}]),
    );
    assert_eq!(df.column("user_id").unwrap().dtype(), &DataType::Float64);
    assert_eq!(texts(&df, "order_id")[0], Some("10".into()));
    assert_eq!(ints(&df, "whole"), [Some(5), Some(8), Some(20), Some(1)]);

    let df = run("orders", json!([{"distinct": ["user_id"]}]));
    assert_eq!(ints(&df, "order_id"), [Some(10), Some(12), Some(13)]);
    let df = run(
        "orders",
        json!([{"select": ["status"]}, {"distinct": true}]),
    );
    assert_eq!(df.height(), 2);

    let df = run("tagged", json!([{"explode": "tags"}]));
    assert_eq!(ints(&df, "id"), [Some(1), Some(1), Some(2)]);
    assert_eq!(
        texts(&df, "tags"),
        [Some("a".into()), Some("b".into()), None]
    );

    let df = run("users", json!([{"union": ["more_users"]}]));
    assert_eq!(ints(&df, "id"), [Some(1), Some(2), Some(3), Some(4)]);
    assert_eq!(texts(&df, "team"), [None, None, None, Some("red".into())]);
    assert_eq!(texts(&df, "email")[3], None);
}

#[test]
fn checks_pass_and_fail_with_offending_rows() {
    let t = tables();
    let checks = |v: Value| -> ChecksSpec { serde_json::from_value(v).unwrap() };
    t.check(
        "orders",
        &checks(json!({"min_rows": 4, "not_null": ["order_id"], "unique": ["order_id", ["user_id", "status"]],
                       "accepted_values": {"status": ["paid", "refunded"]}})),
    )
    .unwrap();
    let fail = |v: Value| t.check("users", &checks(v)).unwrap_err().to_string();
    insta::assert_snapshot!("check_min_rows", fail(json!({"min_rows": 10})));
    insta::assert_snapshot!("check_not_null", fail(json!({"not_null": ["email"]})));
    insta::assert_snapshot!(
        "check_unique",
        t.check("orders", &checks(json!({"unique": ["user_id"]})))
            .unwrap_err()
            .to_string()
    );
    insta::assert_snapshot!(
        "check_accepted_values",
        t.check(
            "orders",
            &checks(json!({"accepted_values": {"status": ["paid"]}}))
        )
        .unwrap_err()
        .to_string()
    );
    insta::assert_snapshot!("check_unknown_column", fail(json!({"not_null": ["mail"]})));
}

#[test]
fn step_errors_name_the_transform_the_step_and_the_column() {
    insta::assert_snapshot!(
        "error_select_missing_column",
        error("users", json!([{"select": ["id", "nmae"]}]))
    );
    insta::assert_snapshot!(
        "error_join_unknown_table",
        error("users", json!([{"join": {"with": "order", "on": "id"}}]))
    );
    insta::assert_snapshot!(
        "error_join_missing_right_key",
        error(
            "users",
            json!([{"join": {"with": "orders", "left_on": "id", "right_on": "userid"}}])
        )
    );
    insta::assert_snapshot!(
        "error_join_key_types",
        error(
            "users",
            json!([{"join": {"with": "orders", "left_on": "name", "right_on": "user_id"}}])
        )
    );
    insta::assert_snapshot!(
        "error_join_keys_missing",
        error("users", json!([{"join": {"with": "orders"}}]))
    );
    insta::assert_snapshot!(
        "error_group_by_missing_column",
        error(
            "orders",
            json!([{"group_by": ["state"], "agg": {"n": "count"}}])
        )
    );
    insta::assert_snapshot!(
        "error_agg_missing_column",
        error(
            "orders",
            json!([{"group_by": ["status"], "agg": {"s": {"sum": "totl"}}}])
        )
    );
    insta::assert_snapshot!(
        "error_filter_unknown_column",
        error("orders", json!([{"filter": "totl > 3"}]))
    );
    insta::assert_snapshot!(
        "error_filter_not_boolean",
        error("orders", json!([{"filter": "total + 1"}]))
    );
    insta::assert_snapshot!(
        "error_with_columns_bad_expression",
        error("orders", json!([{"with_columns": {"x": "total +"}}]))
    );
    insta::assert_snapshot!(
        "error_cast_unknown_type",
        error("orders", json!([{"cast": {"total": "integer"}}]))
    );
    insta::assert_snapshot!(
        "error_cast_value_does_not_convert",
        error("users", json!([{"cast": {"name": "int64"}}]))
    );
    insta::assert_snapshot!(
        "error_cast_drops_a_fraction",
        error("orders", json!([{"cast": {"total": "int64"}}]))
    );
    insta::assert_snapshot!(
        "error_explode_not_a_list",
        error("users", json!([{"explode": "name"}]))
    );
    insta::assert_snapshot!(
        "error_from_unknown_table",
        error("user", json!([{"limit": 1}]))
    );
    insta::assert_snapshot!(
        "error_rename_clash",
        error("users", json!([{"rename": {"name": "email"}}]))
    );
    insta::assert_snapshot!(
        "error_sort_missing_column",
        error("users", json!([{"sort": [{"nam": "desc"}]}]))
    );
    insta::assert_snapshot!(
        "error_fill_null_wrong_type",
        error("orders", json!([{"fill_null": {"total": "n/a"}}]))
    );
    insta::assert_snapshot!(
        "error_union_unknown_table",
        error("users", json!([{"union": ["more_user"]}]))
    );
}

#[test]
fn step_specs_that_do_not_parse_say_what_to_write() {
    let parse = |v: Value| build("users", &json!([v])).unwrap_err();
    insta::assert_snapshot!("spec_unknown_step", parse(json!({"selct": ["id"]})));
    insta::assert_snapshot!(
        "spec_group_by_without_agg",
        parse(json!({"group_by": "id"}))
    );
    insta::assert_snapshot!(
        "spec_unknown_aggregate",
        parse(json!({"group_by": "id", "agg": {"n": {"summ": "x"}}}))
    );
    insta::assert_snapshot!(
        "spec_two_steps_in_one",
        parse(json!({"select": ["id"], "limit": 1}))
    );
    insta::assert_snapshot!("spec_bad_sort", parse(json!({"sort": [{"id": "down"}]})));
    insta::assert_snapshot!(
        "spec_join_unknown_kind",
        parse(json!({"join": {"with": "orders", "on": "id", "how": "outer"}}))
    );
}

#[test]
fn expression_errors_as_snapshots() {
    let columns = [
        ("total".to_owned(), DataType::Float64),
        ("status".to_owned(), DataType::String),
        ("created_at".to_owned(), DataType::String),
    ];
    let error = |text: &str| {
        let e = etl_transform::expr::compile(text, &columns).unwrap_err();
        format!("{text}\n{}^ {}", " ".repeat(e.position), e.message)
    };
    insta::assert_snapshot!("expr_unknown_column", error("totl > 3"));
    insta::assert_snapshot!("expr_unknown_function", error("lowr(status) = 'paid'"));
    insta::assert_snapshot!("expr_arity", error("round(total)"));
    insta::assert_snapshot!("expr_unterminated_string", error("status = 'paid"));
    insta::assert_snapshot!("expr_unexpected_token", error("total > and 3"));
    insta::assert_snapshot!("expr_text_arithmetic", error("status + 1"));
    insta::assert_snapshot!("expr_equals_null", error("status = null"));
    insta::assert_snapshot!("expr_empty", error("   "));
}

#[test]
fn schema_hint_errors_as_snapshots() {
    let hint = |v: Value| {
        serde_json::from_value::<indexmap::IndexMap<String, etl_transform::ColumnHint>>(v)
            .map_or_else(|e| e.to_string(), |_| String::new())
    };
    insta::assert_snapshot!("hint_unknown_type", hint(json!({"id": "integer"})));
    insta::assert_snapshot!(
        "hint_unknown_option",
        hint(json!({"at": {"type": "datetime", "zone": "UTC"}}))
    );
    insta::assert_snapshot!("hint_bad_decimal", hint(json!({"x": "decimal(40, 2)"})));
    let frame =
        df!("id" => ["1", "2", "x"], "at" => ["2026-11-25T10:00:00Z", "soon", "2026-11-25"])
            .unwrap()
            .lazy();
    let apply = |v: Value| {
        let hints: indexmap::IndexMap<String, etl_transform::ColumnHint> =
            serde_json::from_value(v).unwrap();
        etl_transform::apply_hints("orders", frame.clone(), &hints)
            .map_or_else(|e| e.to_string(), |_| String::new())
    };
    insta::assert_snapshot!("hint_value_does_not_convert", apply(json!({"id": "int64"})));
    insta::assert_snapshot!(
        "hint_datetime_does_not_parse",
        apply(json!({"at": "datetime"}))
    );
    insta::assert_snapshot!("hint_unknown_column", apply(json!({"idd": "int64"})));
}

#[test]
fn integer_keys_of_different_widths_join_and_keep_this_sides_type() {
    let mut t = tables();
    let narrow = df!("uid" => [1u32, 2], "score" => [10i64, 20]).unwrap();
    t.add_frame("scores", narrow.lazy()).unwrap();
    t.run(
        &build(
            "users",
            &json!([{"join": {"with": "scores", "left_on": "id", "right_on": "uid", "how": "left"}}]),
        )
        .unwrap(),
    )
    .unwrap();
    let df = t.collect("out").unwrap();
    assert_eq!(df.column("id").unwrap().dtype(), &DataType::Int64);
    assert!(!names(&df).contains(&"uid".to_owned()), "{:?}", names(&df));
    assert_eq!(ints(&df, "score"), [Some(10), Some(20), None]);
}
