//! Unit tests of the parent module (a file of their own, so the code reads in one sitting).

#![allow(clippy::unwrap_used)]

use super::*;
use AttrValue::{Bool, Int, List, Str};

fn sub(name: &str) -> Option<AttrValue> {
    Some(match name {
        "department" => Str("eng".into()),
        "clearance" => Int(3),
        "name" => Str("alice".into()),
        "active" => Bool(true),
        "scopes" => List(vec!["documents:read".into(), "x".into()]),
        _ => return None,
    })
}

fn obj(name: &str) -> Option<AttrValue> {
    Some(match name {
        "department" => Str("eng".into()),
        "classification" => Int(1),
        "owner" => Str("alice".into()),
        "allowed" => List(vec!["eng".into()]),
        "flag" => Int(7),
        _ => return None,
    })
}

#[test]
fn accepts_every_form_the_grammar_allows() {
    let nested = format!("{}true{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    let accepted = [
        "",
        "   \t",
        "true",
        "false",
        "r.sub.department == r.obj.department && r.sub.clearance >= r.obj.classification",
        "r.obj.owner == r.sub.name",
        "\"documents:read\" in r.sub.scopes",
        "r.obj.classification in [0, 1]",
        "!(r.sub.department == \"hr\") || r.sub.clearance > 2",
        "r.sub.active",
        "!!r.sub.active",
        "(r.sub.flag)",
        "r.sub.age >= -5 && r.sub.level<=3",
        "r.sub.name != \"bob\" || r.sub.name < \"m\"",
        "r.sub.tags == [\"a\", \"b\"] && \"x\" in []",
        "r.sub.x in r.obj.allowed",
        "(r.sub.a == 1 || r.sub.b == 2) && r.obj.c != 3",
        "true == r.sub.flag",
        "2147483647 > r.sub.n && -2147483647 < r.sub.n",
        "\"ünïcode, ok\" == r.sub.s",
        "\"our.team at 10.0.0.1\" == r.sub.team",
        "r.sub._private_2 == 1",
        "[1, \"a\", true] == r.sub.mixed",
        &nested,
    ];
    for text in accepted {
        if let Err(e) = Condition::parse(text) {
            panic!("{text:?} should parse but failed: {e}");
        }
    }
}

#[test]
fn rejects_each_forbidden_construct_with_a_precise_message() {
    let long = format!("r.sub.name == \"{}\"", "a".repeat(2000));
    let parens = format!("{}true{}", "(".repeat(40), ")".repeat(40));
    let nots = format!("{}true", "!".repeat(17));
    let ident = format!("r.sub.{} == 1", "a".repeat(65));
    let rejected: &[(&str, &str)] = &[
        ("loop {}", "keyword `loop` at column 1 is not allowed"),
        ("let x = 1", "keyword `let`"),
        ("while true {}", "keyword `while`"),
        ("fn f() {}", "keyword `fn`"),
        ("import \"x\"", "keyword `import`"),
        ("eval(\"1\")", "keyword `eval`"),
        ("r.sub.x = 1", "assignment `=` at column 9"),
        ("foo(1)", "unknown function `foo` at column 1"),
        ("  bar (1)", "unknown function `bar` at column 3"),
        ("r.sub.x(1)", "unknown function `r.sub.x`"),
        ("p.sub == \"x\"", "policy reference `p.` at column 1"),
        (
            "r.foo.bar == 1",
            "unknown attribute root `r.foo` at column 1 (only r.sub.* and",
        ),
        ("r2.sub.x == 1", "unknown attribute root `r2.sub`"),
        (
            "\"a\" == \"r.sub\"",
            "string literal at column 8 contains `r.` or `p.`, which",
        ),
        ("\"my-p1.x\" == r.sub.a", "which casbin would rewrite"),
        (
            "r.sub.a == \"abc",
            "string literal at column 12 is unterminated",
        ),
        ("\"a\\\"b\" == r.sub.a", "backslash"),
        (
            "\"a\nb\" == r.sub.a",
            "line break or control character at column 3",
        ),
        ("1.5 > 1", "floating-point number at column 1"),
        ("'x' == 'x'", "single-quoted literal"),
        ("`x` == r.sub.a", "backtick string"),
        (
            "r.sub.a < r.sub.b < r.sub.c",
            "chained comparison at column 19",
        ),
        ("r.sub.a == 1 == true", "chained comparison"),
        ("r.sub.a == 1 in [true]", "chained comparison"),
        ("a < b", "unknown identifier `a` at column 1"),
        (&long, "condition longer than 1024 characters"),
        (&parens, "nesting deeper than 16 at column 17"),
        (&nots, "nesting deeper than 16"),
        (&ident, "name longer than 64 characters"),
        (
            "r.sub.department junk",
            "unknown identifier `junk` at column 18",
        ),
        ("r.sub.department )", "unexpected token `)` at column 18"),
        ("()", "unexpected token `)` at column 2"),
        (
            "r.sub.a == 1 &&",
            "unexpected end of condition, expected an operand",
        ),
        ("(r.sub.a", "unexpected end of condition, expected `)`"),
        ("true; true", "unexpected token `;` at column 5"),
        ("{ true }", "unexpected token `{` at column 1"),
        ("r.sub.n == 2147483648", "32 bits"),
        ("r.sub.n == -2147483648", "32 bits"),
        ("r.sub.n == 0x10", "malformed"),
        ("- 1 == r.sub.n", "unexpected token `-`"),
        ("r.sub.n<-1", "unexpected token `<-`"),
        ("r.sub.a & r.sub.b", "unexpected token `&`"),
        ("r.sub.a == 1 ||| true", "unexpected token `|`"),
        ("r.sub.a !in [1]", "unexpected token `!`"),
        ("3", "expected a boolean expression at column 1"),
        (
            "r.sub.a == 1 &&\nr.sub.b == 2",
            "a line break or control character at column 16",
        ),
        ("r.sub.a && 3", "expected a boolean expression at column 12"),
        ("!\"x\"", "expected a boolean expression at column 2"),
        ("(3) == 3", "expected a boolean expression at column 2"),
        ("[1, 2]", "expected a boolean expression"),
        ("r.sub.a in 3", "right side of `in` at column 12"),
        ("r.sub.a in \"abc\"", "right side of `in`"),
        (
            "!r.sub.a == true",
            "`!` at column 1 is followed by a comparison",
        ),
        (
            "r.sub",
            "invalid attribute `r.sub` at column 1: expected `.NAME`",
        ),
        ("r.sub. == 1", "missing attribute name"),
        ("r.sub._1x == 1", "must start with a letter"),
        ("r.sub.a.b == 1", "nested attribute access"),
        ("r.sub.loop == 1", "reserved word"),
        ("r.sub.x == [r.sub.y]", "unexpected token `r.sub.y`"),
        ("r.sub.x == [[1]]", "unexpected token `[`"),
        ("r.sub.x == [1,]", "unexpected token `]`"),
        ("r.sub.café == 1", "unexpected token `é`"),
        (
            "r.sub.a ==\u{a0}1",
            "unexpected token `\\u{a0}` at column 11",
        ),
    ];
    for (text, want) in rejected {
        match Condition::parse(text) {
            Ok(_) => panic!("{text:?} should be rejected"),
            Err(e) => assert!(
                e.to_string().contains(want),
                "{text:?}: got `{e}`, want `{want}`"
            ),
        }
    }
}

#[test]
fn evaluates_true_false_and_each_error_kind() {
    let missing = |n: &str| Err(EvalError::MissingAttribute(n.into()));
    let mismatch = |detail: &str, attrs: &[&str]| {
        Err(EvalError::TypeMismatch {
            detail: detail.into(),
            attributes: attrs.iter().map(|a| a.to_string()).collect(),
        })
    };
    let not_bool = |a: &str, found| {
        Err(EvalError::NotBoolean {
            attribute: Some(a.into()),
            found,
        })
    };
    let cases = [
        ("", Ok(true)),
        (
            "r.sub.department == r.obj.department && r.sub.clearance >= r.obj.classification",
            Ok(true),
        ),
        ("r.obj.owner == r.sub.name", Ok(true)),
        ("\"documents:read\" in r.sub.scopes", Ok(true)),
        ("\"documents:write\" in r.sub.scopes", Ok(false)),
        ("r.obj.classification in [0, 1]", Ok(true)),
        ("r.obj.classification in [2, 3]", Ok(false)),
        (
            "!(r.sub.department == \"hr\") || r.sub.clearance > 2",
            Ok(true),
        ),
        (
            "r.sub.clearance == \"3\"",
            mismatch(
                "cannot compare r.sub.clearance (int) with string",
                &["r.sub.clearance"],
            ),
        ),
        (
            "r.sub.clearance != \"3\"",
            mismatch(
                "cannot compare r.sub.clearance (int) with string",
                &["r.sub.clearance"],
            ),
        ),
        (
            "r.sub.scopes != 1",
            mismatch(
                "cannot compare r.sub.scopes (list) with int",
                &["r.sub.scopes"],
            ),
        ),
        ("r.sub.clearance in r.sub.scopes", Ok(false)),
        ("r.sub.scopes == [\"documents:read\", \"x\"]", Ok(true)),
        ("r.sub.scopes == [\"x\"]", Ok(false)),
        ("[1, 2] == [1, 2] && !(1 in [\"1\"])", Ok(true)),
        ("r.sub.name < \"bob\"", Ok(true)),
        ("r.sub.clearance <= 2", Ok(false)),
        ("r.sub.active && !false", Ok(true)),
        ("r.sub.department in r.obj.allowed", Ok(true)),
        ("false && r.sub.missing", Ok(false)),
        ("true || r.sub.missing == 1", Ok(true)),
        ("r.sub.missing == 1", missing("r.sub.missing")),
        ("r.obj.nope", missing("r.obj.nope")),
        (
            "r.sub.clearance < \"x\"",
            mismatch(
                "cannot order r.sub.clearance (int) against string",
                &["r.sub.clearance"],
            ),
        ),
        (
            "r.sub.clearance >= r.obj.department",
            mismatch(
                "cannot order r.sub.clearance (int) against r.obj.department (string)",
                &["r.sub.clearance", "r.obj.department"],
            ),
        ),
        (
            "r.sub.active < true",
            mismatch(
                "cannot order r.sub.active (bool) against bool",
                &["r.sub.active"],
            ),
        ),
        (
            "r.sub.scopes > [1]",
            mismatch(
                "cannot order r.sub.scopes (list) against list",
                &["r.sub.scopes"],
            ),
        ),
        (
            "r.sub.name in r.obj.flag",
            mismatch(
                "right side of `in` is r.obj.flag (int), not a list",
                &["r.obj.flag"],
            ),
        ),
        (
            "r.sub.name in r.sub.name",
            mismatch(
                "right side of `in` is r.sub.name (string), not a list",
                &["r.sub.name"],
            ),
        ),
        ("r.sub.name", not_bool("r.sub.name", "string")),
        ("r.obj.flag && true", not_bool("r.obj.flag", "int")),
        ("!r.sub.clearance", not_bool("r.sub.clearance", "int")),
    ];
    for (text, want) in cases {
        let cond = Condition::parse(text).unwrap();
        assert_eq!(cond.eval(&sub, &obj), want, "{text:?}");
    }
}

#[test]
fn an_evaluation_error_names_its_kind_and_the_attributes_to_send_or_fix() {
    let err = |text: &str| {
        Condition::parse(text)
            .unwrap()
            .eval(&sub, &obj)
            .unwrap_err()
    };
    let e = err("r.sub.clearance >= r.obj.missing");
    assert_eq!(e.kind(), EvalErrorKind::MissingAttribute);
    assert_eq!(e.attributes(), ["r.obj.missing"]);
    assert_eq!(e.to_string(), "missing attribute `r.obj.missing`");
    let e = err("r.obj.owner == 3");
    assert_eq!(e.kind(), EvalErrorKind::TypeMismatch);
    assert_eq!(e.attributes(), ["r.obj.owner"]);
    assert_eq!(
        e.to_string(),
        "type mismatch: cannot compare r.obj.owner (string) with int"
    );
    let e = err("r.obj.flag");
    assert_eq!(e.kind(), EvalErrorKind::NotBoolean);
    assert_eq!(e.attributes(), ["r.obj.flag"]);
    assert_eq!(
        e.to_string(),
        "expected a boolean value in `r.obj.flag`, found int"
    );
    // no attribute value ever reaches a message: only names and types
    for text in ["r.obj.owner == 3", "r.sub.department < 1", "r.sub.name"] {
        let message = err(text).to_string();
        assert!(
            !message.contains("alice") && !message.contains("eng"),
            "{message}"
        );
    }
    assert_eq!(
        serde_json::to_value(EvalErrorKind::MissingAttribute).unwrap(),
        "missing_attribute"
    );
}

#[test]
fn missing_attributes_lists_every_attribute_read_and_absent_in_first_seen_order() {
    struct Only;
    impl Attributes for Only {
        fn sub(&self, name: &str) -> Option<AttrRef<'_>> {
            (name == "name").then_some(AttrRef::Str("alice"))
        }
        fn obj(&self, _: &str) -> Option<AttrRef<'_>> {
            None
        }
    }
    let c = Condition::parse(
        "r.obj.owner == r.sub.name || r.sub.clearance >= r.obj.classification && r.obj.owner != \"x\"",
    )
    .unwrap();
    assert_eq!(
        c.missing_attributes(&Only),
        ["r.obj.owner", "r.sub.clearance", "r.obj.classification"]
    );
    assert!(
        Condition::parse("")
            .unwrap()
            .missing_attributes(&Only)
            .is_empty()
    );
}

#[test]
fn accessors_report_text_and_attributes() {
    let empty: Condition = "  ".parse().unwrap();
    assert!(empty.is_always_true());
    assert_eq!((empty.as_str(), empty.casbin_text()), ("", "true"));
    let c: Condition = " r.sub.a == r.obj.b && r.sub.a != 1 || r.obj.c "
        .parse()
        .unwrap();
    assert!(!c.is_always_true());
    assert_eq!(
        c.to_string(),
        "r.sub.a == r.obj.b && r.sub.a != 1 || r.obj.c"
    );
    assert_eq!(c.casbin_text(), c.as_str());
    let attrs = [("sub", "a"), ("obj", "b"), ("obj", "c")].map(|(s, n)| (s, n.to_string()));
    assert_eq!(c.attributes(), attrs);
}

#[test]
fn attr_values_serialize_untagged() {
    let v: Vec<AttrValue> = serde_json::from_str(r#"[true, 5, "x", ["a"]]"#).unwrap();
    assert_eq!(
        v,
        vec![Bool(true), Int(5), Str("x".into()), List(vec!["a".into()])]
    );
    assert_eq!(serde_json::to_string(&v).unwrap(), r#"[true,5,"x",["a"]]"#);
}

#[test]
fn huge_and_deep_inputs_fail_cleanly() {
    let huge = "(".repeat(1_000_000);
    assert_eq!(
        Condition::parse(&huge),
        Err(ConditionError::TooLong { len: 1_000_000 })
    );
    for deep in ["(".repeat(1000), "!".repeat(1000), "!(".repeat(500)] {
        let err = Condition::parse(&deep);
        assert!(
            matches!(err, Err(ConditionError::TooDeep { .. })),
            "{err:?}"
        );
    }
    assert!(Condition::parse(&"[".repeat(1000)).is_err());
    let wide = vec!["r.sub.active"; 60].join(" && ");
    assert_eq!(Condition::parse(&wide).unwrap().eval(&sub, &obj), Ok(true));
}

#[test]
fn random_soup_of_grammar_fragments_never_panics() {
    const PIECES: &[&str] = &[
        "r.sub.a",
        "r.obj.b",
        "r.sub.s",
        "r.",
        "p.",
        "(",
        ")",
        "[",
        "]",
        ",",
        "!",
        "&&",
        "||",
        "&",
        "|",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "=",
        " in ",
        "true",
        "false",
        "1",
        "-7",
        "99999999999",
        "1.5",
        "\"x\"",
        "\"r.y\"",
        "\"",
        "\\",
        "'",
        " ",
        "{",
        ";",
        "loop",
        "foo",
        "é",
        "\n",
        "-",
    ];
    let lookup = |name: &str| match name {
        "a" => Some(Bool(true)),
        "b" => Some(Int(2)),
        "s" => Some(List(vec!["x".into()])),
        _ => None,
    };
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    let mut accepted = 0;
    for _ in 0..5000 {
        let n = next() % 16;
        let text: String = (0..n).map(|_| PIECES[next() % PIECES.len()]).collect();
        if let Ok(c) = Condition::parse(&text) {
            accepted += 1;
            let _ = c.eval(&lookup, &lookup);
            assert_eq!(Condition::parse(c.as_str()).as_ref(), Ok(&c));
        }
    }
    assert!(accepted > 10, "only {accepted} accepted");
}
