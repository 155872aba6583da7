// SPDX-License-Identifier: GPL-2.0
//! End-to-end tests of `mmiotrace plot` on the real fixture
//! tests/fixtures/e1000-first-map.txt: the SVG is well-formed XML with a
//! row per register named from tools/regdb/, and, rendered with resvg, the
//! PNG shows something in the plot area. The PNGs are left in
//! `$CARGO_TARGET_TMPDIR/plot/` to be looked at.
//!
//! `MMIOTRACE_PLOT_TRACE=path/to/trace.txt cargo test --test plot` also
//! renders that trace (e.g. a whole boot) to `.../plot/extra.png` and
//! `extra-by-index.png`.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use resvg::{tiny_skia, usvg};
use tempfile::TempDir;

const E1000_REGISTERS: [(&str, &str); 8] = [
    ("CTRL", "bar0+0x0000"),
    ("STATUS", "bar0+0x0008"),
    ("EECD", "bar0+0x0010"),
    ("ICR", "bar0+0x00c0"),
    ("IMC", "bar0+0x00d8"),
    ("RCTL", "bar0+0x0100"),
    ("TCTL", "bar0+0x0400"),
    ("MANC", "bar0+0x5820"),
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn regdb_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../regdb")
}

/// `mmiotrace plot --regdb-dir tools/regdb ARGS TRACE`; its standard output.
fn plot(args: &[&str], trace: &Path) -> String {
    let output = Command::cargo_bin("mmiotrace")
        .unwrap()
        .arg("plot")
        .arg("--regdb-dir")
        .arg(regdb_dir())
        .args(args)
        .arg(trace)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn texts<'a>(doc: &'a roxmltree::Document, class: &str) -> Vec<&'a str> {
    doc.descendants()
        .filter(|n| n.attribute("class") == Some(class))
        .map(|n| n.text().unwrap_or(""))
        .collect()
}

/// The rectangles of the group of `class` ("reads", "writes").
fn cells(doc: &roxmltree::Document, class: &str) -> usize {
    doc.descendants()
        .find(|n| n.attribute("class") == Some(class))
        .unwrap_or_else(|| panic!("no <g class=\"{class}\">"))
        .children()
        .filter(|n| n.has_tag_name("rect"))
        .count()
}

#[test]
fn svg_of_the_e1000_fixture_has_a_named_row_per_register() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("e1000.svg");
    let trace = fixture("e1000-first-map.txt");
    let stdout = plot(&["-o", out.to_str().unwrap()], &trace);
    assert!(stdout.is_empty());
    let svg = fs::read_to_string(&out).unwrap();
    assert_eq!(svg, plot(&[], &trace), "-o and standard output differ");

    let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let (names, offsets): (Vec<_>, Vec<_>) = E1000_REGISTERS.iter().copied().unzip();
    assert_eq!(texts(&doc, "name"), names);
    assert_eq!(texts(&doc, "offset"), offsets);
    assert!(
        texts(&doc, "summary")[0].starts_with("21 reads, 19 writes, 8 registers"),
        "{:?}",
        texts(&doc, "summary")
    );
    // Every access is a cell of its own at this resolution (32 us per
    // column), but for STATUS reads that share a column.
    let reads = cells(&doc, "reads");
    let writes = cells(&doc, "writes");
    assert!((15..=21).contains(&reads), "{reads} read cells");
    assert!((15..=19).contains(&writes), "{writes} write cells");
    // The one mapping, and no MARK line.
    let spans = doc
        .descendants()
        .find(|n| n.attribute("class") == Some("spans"))
        .unwrap();
    assert_eq!(spans.children().filter(|n| n.is_element()).count(), 1);
    assert!(texts(&doc, "mark").is_empty());

    // By index: one column per access, 40 in all.
    let svg = plot(&["--by-index", "--device", "8086:100e"], &trace);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(texts(&doc, "name"), names);
    // Runs of accesses to one register are one rectangle: the cells are
    // 40 columns of 30 pixels wide in all.
    let width: f64 = ["reads", "writes"]
        .iter()
        .flat_map(|class| {
            doc.descendants()
                .find(|n| n.attribute("class") == Some(*class))
                .unwrap()
                .children()
                .filter(|n| n.has_tag_name("rect"))
        })
        .map(|n| n.attribute("width").unwrap().parse::<f64>().unwrap())
        .sum();
    assert!((width - 1200.0).abs() < 0.1, "{width}");

    // Standard input works as well.
    let output = Command::cargo_bin("mmiotrace")
        .unwrap()
        .args(["plot", "--by-index", "-"])
        .arg("--regdb-dir")
        .arg(regdb_dir())
        .pipe_stdin(&trace)
        .unwrap()
        .output()
        .unwrap();
    assert!(output.status.success());
    let from_stdin = String::from_utf8(output.stdout).unwrap();
    let doc = roxmltree::Document::parse(&from_stdin).unwrap();
    assert_eq!(texts(&doc, "name"), names);
}

/// The plot area from the axis lines: (left, top, right, bottom).
fn plot_area(doc: &roxmltree::Document) -> (f32, f32, f32, f32) {
    let axis = doc
        .descendants()
        .find(|n| n.attribute("class") == Some("axis"))
        .unwrap();
    let lines: Vec<_> = axis.children().filter(|n| n.is_element()).collect();
    let num = |n: &roxmltree::Node, a: &str| -> f32 { n.attribute(a).unwrap().parse().unwrap() };
    // The first line is the x axis, the second the y axis.
    (
        num(&lines[0], "x1"),
        num(&lines[1], "y1"),
        num(&lines[0], "x2"),
        num(&lines[0], "y1"),
    )
}

struct Rendered {
    png: Vec<u8>,
    width: u32,
    height: u32,
    /// Pixels of the plot area in colour (reads, writes, marks), not white
    /// or grey.
    coloured: usize,
    /// Dark pixels left of the plot area: the row labels.
    label_ink: usize,
    fonts: usize,
}

/// Renders `svg` with resvg and saves it as `$CARGO_TARGET_TMPDIR/plot/<name>.png`.
fn render(svg: &str, name: &str) -> Rendered {
    let mut options = usvg::Options::default();
    options.fontdb_mut().load_system_fonts();
    let fonts = options.fontdb.len();
    // Whatever font there is, if none of those the SVG names.
    if let Some((family, _)) = options
        .fontdb
        .faces()
        .next()
        .and_then(|f| f.families.first())
    {
        options.font_family = family.clone();
    }
    let tree = usvg::Tree::from_str(svg, &options).expect("usvg parses the SVG");
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).unwrap();
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plot");
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.png"));
    pixmap.save_png(&path).unwrap();
    eprintln!("rendered {}", path.display());

    let doc = roxmltree::Document::parse(svg).unwrap();
    let (left, top, right, bottom) = plot_area(&doc);
    let (mut coloured, mut label_ink) = (0, 0);
    for y in 0..pixmap.height() {
        for x in 0..pixmap.width() {
            let p = pixmap.pixel(x, y).unwrap().demultiply();
            let (r, g, b) = (p.red(), p.green(), p.blue());
            let (hi, lo) = (r.max(g).max(b), r.min(g).min(b));
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
            let inside = fx > left + 1.0 && fx < right && fy > top && fy < bottom - 1.0;
            if inside && hi - lo > 60 {
                coloured += 1;
            }
            if fx < left - 1.0 && fy > top && fy < bottom && hi < 128 {
                label_ink += 1;
            }
        }
    }
    Rendered {
        png: pixmap.encode_png().unwrap(),
        width: pixmap.width(),
        height: pixmap.height(),
        coloured,
        label_ink,
        fonts,
    }
}

#[test]
fn the_plot_is_looked_at() {
    let trace = fixture("e1000-first-map.txt");
    for (name, args, min_coloured) in [
        // 40 cells of about 2 x 6 pixels.
        ("e1000-first-map", &[][..], 300),
        // 40 cells of 30 x 6 pixels.
        ("e1000-first-map-by-index", &["--by-index"][..], 5000),
    ] {
        let svg = plot(args, &trace);
        let r = render(&svg, name);
        assert!(
            r.width >= 1200 && r.height >= 8 * 14,
            "{}x{}",
            r.width,
            r.height
        );
        assert!(r.png.len() > 4000, "{name}: PNG of {} bytes", r.png.len());
        assert!(
            r.coloured >= min_coloured,
            "{name}: {} coloured pixels in the plot area",
            r.coloured
        );
        if r.fonts > 0 {
            // 8 labels of 3 to 6 characters.
            assert!(r.label_ink > 200, "{name}: {} label pixels", r.label_ink);
        }
    }
}

#[test]
fn a_blank_plot_is_seen_as_blank() {
    // The check above can fail: a trace without accesses has no colour.
    let dir = TempDir::new().unwrap();
    let trace = dir.path().join("empty.txt");
    fs::write(
        &trace,
        "VERSION 20070824\nPCIDEV 0010 8086100e a febc0000 c101 0 0 0 0 0 20000 40 0 0 0 0 0\n",
    )
    .unwrap();
    let svg = plot(&[], &trace);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert!(texts(&doc, "name").is_empty());
    let r = render(&svg, "empty");
    assert_eq!(r.coloured, 0);
}

#[test]
fn marks_and_text_are_escaped() {
    let dir = TempDir::new().unwrap();
    let trace = dir.path().join("marks.txt");
    let text = fs::read_to_string(fixture("e1000-first-map.txt"))
        .unwrap()
        .replace(
            "W 4 87.480372",
            "MARK 87.480300 <init> & \"reset\" ]]>\nW 4 87.480372",
        );
    fs::write(&trace, text).unwrap();
    let svg = plot(&[], &trace);
    let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
    let marks: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("mark"))
        .collect();
    assert_eq!(marks.len(), 1);
    let label = marks[0]
        .descendants()
        .find(|n| n.has_tag_name("text"))
        .unwrap();
    assert_eq!(label.text(), Some("<init> & \"reset\" ]]>"));
    let r = render(&svg, "e1000-mark");
    assert!(r.coloured >= 300);
}

#[test]
fn errors_exit_with_2() {
    let trace = fixture("e1000-first-map.txt");
    Command::cargo_bin("mmiotrace")
        .unwrap()
        .args(["plot", "--device", "1234:5678"])
        .arg(&trace)
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::starts_with("error: ").and(predicate::str::contains("1234:5678")));
    let dir = TempDir::new().unwrap();
    Command::cargo_bin("mmiotrace")
        .unwrap()
        .args(["plot", "-o"])
        .arg(dir.path().join("no/such/dir.svg"))
        .arg(&trace)
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with("error: cannot open output"));
    Command::cargo_bin("mmiotrace")
        .unwrap()
        .args(["plot", "--width", "5000"])
        .arg(&trace)
        .assert()
        .code(2);
    Command::cargo_bin("mmiotrace")
        .unwrap()
        .args(["plot", "no-such-trace.txt"])
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with("error: cannot open trace"));
}

/// Renders `$MMIOTRACE_PLOT_TRACE`, if set (e.g. a whole boot's trace).
#[test]
fn extra_trace_from_the_environment() {
    let Some(trace) = std::env::var_os("MMIOTRACE_PLOT_TRACE") else {
        return;
    };
    for (name, args) in [("extra", &[][..]), ("extra-by-index", &["--by-index"][..])] {
        let svg = plot(args, Path::new(&trace));
        eprintln!("{name}: SVG of {} bytes", svg.len());
        let r = render(&svg, name);
        assert!(r.coloured > 0);
    }
}
