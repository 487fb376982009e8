//! The provider export as a stream in order-id order (byte order), for the audit's merge with the
//! database read in the same order: memory stays flat in the export's size.
//!
//! [`ExportFile::open`] reads the header (the export's first line, [`super::Header`]): an export
//! that says it is sorted is streamed as it is, and checked while it streams (a line out of order
//! or an order id seen twice stops the audit, naming the line). An export without a header is read
//! once to learn its period and whether it is sorted; one that is not sorted is sorted on disk:
//! runs of [`RUN_LINES`] lines, each sorted in memory and written to a temporary folder (removed
//! when the [`ExportFile`] is dropped), then merged while the audit streams them. The audit reads
//! the entries ahead on a thread of their own ([`ExportFile::entries_ahead`]), so parsing the
//! export's JSON overlaps with the database walk. What it does not do: hold the export, or change
//! the file.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Lines, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::{Entry, Header, parse_header, parse_line};
use crate::error::Error;

/// Lines per sorted run: about 10 MB of lines held while a run is sorted.
pub const RUN_LINES: usize = 65_536;
/// Entries per batch read ahead, and batches in flight.
pub const BATCH: usize = 4096;
pub const AHEAD_BATCHES: usize = 4;

/// The export's entries read ahead on their own thread; see [`ExportFile::entries_ahead`].
pub struct Ahead {
    rx: std::sync::mpsc::Receiver<Vec<Result<(String, Entry), Error>>>,
    batch: std::vec::IntoIter<Result<(String, Entry), Error>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Iterator for Ahead {
    type Item = Result<(String, Entry), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.batch.next() {
                return Some(item);
            }
            self.batch = self.rx.recv().ok()?.into_iter();
        }
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        // Unblock the reader if it is waiting to send, then wait for it: it holds the file.
        let (_, rx) = std::sync::mpsc::sync_channel(0);
        drop(std::mem::replace(&mut self.rx, rx));
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// An export file, ready to stream in order.
#[derive(Debug)]
pub struct ExportFile {
    /// The file as messages show it.
    pub shown: String,
    path: PathBuf,
    /// What the export covers: as its header states it, or as read.
    pub header: Header,
    /// Whether the header was in the file.
    pub stated: bool,
    /// The sorted runs, when the file is not sorted.
    runs: Option<Runs>,
}

#[derive(Debug)]
struct Runs {
    dir: PathBuf,
    files: Vec<PathBuf>,
}

impl Drop for Runs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn usage(shown: &str, e: impl std::fmt::Display) -> Error {
    Error::Usage(format!("{shown}: cannot read the provider export: {e}"))
}

fn at(shown: &str, line: usize, message: String) -> Error {
    Error::Scenario { location: format!("{shown}:{line}"), message }
}

/// The lines of `path`, numbered from 1.
fn numbered(path: &Path, shown: &str) -> Result<impl Iterator<Item = (usize, std::io::Result<String>)> + use<>, Error> {
    let file = File::open(path).map_err(|e| usage(shown, e))?;
    Ok(BufReader::with_capacity(1 << 16, file).lines().enumerate().map(|(i, l)| (i + 1, l)))
}

impl ExportFile {
    /// Opens `path`: reads its header, or reads it whole to learn its period and order, and
    /// sorts it on disk when it is not sorted. Every line is checked before any is used when
    /// there is no header; with one, lines are checked as they stream.
    pub fn open(path: &Path) -> Result<ExportFile, Error> {
        let shown = path.display().to_string();
        let mut lines = numbered(path, &shown)?;
        let first = match lines.next() {
            Some((_, l)) => Some(l.map_err(|e| usage(&shown, e))?),
            None => None,
        };
        let stated = match first.as_deref().and_then(parse_header) {
            Some(h) => Some(h.map_err(|m| at(&shown, 1, m))?),
            None => None,
        };
        let mut file = ExportFile {
            shown: shown.clone(),
            path: path.to_path_buf(),
            header: stated.unwrap_or_default(),
            stated: stated.is_some(),
            runs: None,
        };
        if let Some(h) = stated {
            if h.settle_export != 1 {
                return Err(at(&shown, 1, format!("export format {}; this settle reads 1", h.settle_export)));
            }
            if !h.sorted {
                file.runs = Some(sort_runs(path, &shown)?);
            }
            return Ok(file);
        }
        // No header: one pass to learn the period and whether the ids are in order.
        let (mut header, mut last) = (Header { settle_export: 1, sorted: true, ..Header::default() }, None::<String>);
        for (line, text) in numbered(path, &shown)? {
            let text = text.map_err(|e| usage(&shown, e))?;
            let Some((code, entry)) = parse_line(&text, line).map_err(|m| at(&shown, line, m))? else { continue };
            header.lines += 1;
            header.from = Some(header.from.map_or(entry.time, |t| t.min(entry.time)));
            header.until = Some(header.until.map_or(entry.time, |t| t.max(entry.time)));
            if last.as_deref().is_some_and(|l| l.as_bytes() >= code.as_bytes()) {
                header.sorted = false;
            }
            last = Some(code);
        }
        if !header.sorted {
            file.runs = Some(sort_runs(path, &shown)?);
        }
        file.header = header;
        Ok(file)
    }

    /// [`ExportFile::entries`], read and parsed ahead on a thread of their own, in batches, so
    /// the audit's database walk and the export's JSON overlap on two cores. The order and the
    /// errors are the same; memory holds at most [`AHEAD_BATCHES`] batches of [`BATCH`] lines.
    pub fn entries_ahead(&self) -> Result<Ahead, Error> {
        let mut entries = self.entries()?;
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Result<(String, Entry), Error>>>(AHEAD_BATCHES);
        let reader = std::thread::Builder::new()
            .name("settle-export".into())
            .spawn(move || {
                loop {
                    let batch: Vec<_> = entries.by_ref().take(BATCH).collect();
                    let last = batch.len() < BATCH || batch.last().is_some_and(Result::is_err);
                    // The audit stopped reading (an error of its own): stop too.
                    if tx.send(batch).is_err() || last {
                        return;
                    }
                }
            })
            .map_err(|e| Error::Infrastructure(format!("{}: cannot start the export reader: {e}", self.shown)))?;
        Ok(Ahead { rx, batch: Vec::new().into_iter(), reader: Some(reader) })
    }

    /// The entries in strictly increasing order-id order. A repeated id, or (for an export whose
    /// header says it is sorted) an id out of order, is an error naming its line.
    pub fn entries(&self) -> Result<Entries, Error> {
        let source = match &self.runs {
            None => {
                let file = File::open(&self.path).map_err(|e| usage(&self.shown, e))?;
                Source::File { reader: BufReader::with_capacity(1 << 16, file), line: 0 }
            }
            Some(runs) => Source::Merge(Merge::new(runs, &self.shown)?),
        };
        Ok(Entries {
            source,
            shown: self.shown.clone(),
            text: String::new(),
            last: String::new(),
            last_line: 0,
            stated: self.stated.then_some(self.header.lines),
            read: 0,
        })
    }
}

/// Reads the export in runs of [`RUN_LINES`], each sorted and written to a temporary file.
fn sort_runs(path: &Path, shown: &str) -> Result<Runs, Error> {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "settle-export-sort-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| Error::Infrastructure(format!("{}: {e}", dir.display())))?;
    let mut runs = Runs { dir, files: Vec::new() };
    let mut run: Vec<(String, usize, String)> = Vec::with_capacity(RUN_LINES);
    for (line, text) in numbered(path, shown)? {
        let text = text.map_err(|e| usage(shown, e))?;
        if line == 1 && parse_header(&text).is_some() {
            continue;
        }
        let Some((code, _)) = parse_line(&text, line).map_err(|m| at(shown, line, m))? else { continue };
        run.push((code, line, text));
        if run.len() == RUN_LINES {
            write_run(&mut runs, &mut run)?;
        }
    }
    if !run.is_empty() {
        write_run(&mut runs, &mut run)?;
    }
    Ok(runs)
}

fn write_run(runs: &mut Runs, run: &mut Vec<(String, usize, String)>) -> Result<(), Error> {
    run.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()).then(a.1.cmp(&b.1)));
    let path = runs.dir.join(format!("run-{}", runs.files.len()));
    let fail = |e: std::io::Error| Error::Infrastructure(format!("{}: cannot write a sorted run: {e}", path.display()));
    let mut w = BufWriter::new(File::create(&path).map_err(fail)?);
    for (_, line, text) in run.drain(..) {
        writeln!(w, "{line}\t{text}").map_err(fail)?;
    }
    w.flush().map_err(fail)?;
    runs.files.push(path);
    Ok(())
}

/// Where the lines come from: the file itself, read line by line (the line read last, numbered
/// from 1), or the merged runs.
enum Source {
    File { reader: BufReader<File>, line: usize },
    Merge(Merge),
}

/// A run's next line on the merge's heap: its order id (bytes), line number, run, and text.
type Head = (Vec<u8>, usize, usize, String);

/// The k-way merge of the sorted runs: one line of each run held at a time.
struct Merge {
    readers: Vec<Lines<BufReader<File>>>,
    heap: BinaryHeap<Reverse<Head>>,
    shown: String,
}

impl Merge {
    fn new(runs: &Runs, shown: &str) -> Result<Merge, Error> {
        let mut m = Merge { readers: Vec::new(), heap: BinaryHeap::new(), shown: shown.to_string() };
        for path in &runs.files {
            let f = File::open(path).map_err(|e| Error::Infrastructure(format!("{}: {e}", path.display())))?;
            m.readers.push(BufReader::new(f).lines());
            let i = m.readers.len() - 1;
            m.refill(i)?;
        }
        Ok(m)
    }

    /// Puts run `i`'s next line on the heap.
    fn refill(&mut self, i: usize) -> Result<(), Error> {
        let Some(next) = self.readers[i].next() else { return Ok(()) };
        let raw = next.map_err(|e| Error::Infrastructure(format!("{}: a sorted run: {e}", self.shown)))?;
        let (line, text) = raw.split_once('\t').unwrap_or(("0", raw.as_str()));
        let line: usize = line.parse().unwrap_or(0);
        // The id was parsed once already; parsing again here keeps the run format plain.
        let code = parse_line(text, line).ok().flatten().map(|(c, _)| c).unwrap_or_default();
        self.heap.push(Reverse((code.into_bytes(), line, i, text.to_string())));
        Ok(())
    }

    fn next(&mut self) -> Option<Result<(usize, String), Error>> {
        let Reverse((_, line, i, text)) = self.heap.pop()?;
        if let Err(e) = self.refill(i) {
            return Some(Err(e));
        }
        Some(Ok((line, text)))
    }
}

/// The export's entries in order; see [`ExportFile::entries`].
pub struct Entries {
    source: Source,
    shown: String,
    /// The current line's text, its buffer reused from line to line.
    text: String,
    /// The last id returned and its line (`last_line` 0 before the first).
    last: String,
    last_line: usize,
    /// The header's line count, checked against `read` at the end (then `None`).
    stated: Option<u64>,
    read: u64,
}

impl Entries {
    /// The next line into `self.text`, and its number; as [`BufRead::lines`] reads it (without
    /// its `\n` or `\r\n`).
    fn next_line(&mut self) -> Option<Result<usize, Error>> {
        match &mut self.source {
            Source::File { reader, line } => {
                self.text.clear();
                match reader.read_line(&mut self.text) {
                    Ok(0) => None,
                    Ok(_) => {
                        if self.text.ends_with('\n') {
                            self.text.pop();
                            if self.text.ends_with('\r') {
                                self.text.pop();
                            }
                        }
                        *line += 1;
                        Some(Ok(*line))
                    }
                    Err(e) => Some(Err(usage(&self.shown, e))),
                }
            }
            Source::Merge(m) => Some(m.next()?.map(|(line, text)| {
                self.text = text;
                line
            })),
        }
    }
}

impl Iterator for Entries {
    type Item = Result<(String, Entry), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = match self.next_line() {
                Some(Ok(line)) => line,
                Some(Err(e)) => return Some(Err(e)),
                // At the end, once: the header's count against the lines read.
                None => {
                    let stated = self.stated.take()?;
                    return super::check_line_count(stated, self.read).err().map(|m| Err(at(&self.shown, 1, m)));
                }
            };
            let text = self.text.as_str();
            if line == 1 && parse_header(text).is_some() {
                continue;
            }
            let (code, entry) = match parse_line(text, line) {
                Ok(Some(x)) => x,
                Ok(None) => continue,
                Err(m) => return Some(Err(at(&self.shown, line, m))),
            };
            if self.last_line > 0 {
                let (last, first) = (&self.last, self.last_line);
                match last.as_bytes().cmp(code.as_bytes()) {
                    std::cmp::Ordering::Less => {}
                    std::cmp::Ordering::Equal => {
                        let m = format!("order_id {code:?} appears twice (first on line {first})");
                        return Some(Err(at(&self.shown, line, m)));
                    }
                    std::cmp::Ordering::Greater => {
                        let m = format!("order_id {code:?} comes after {last:?}: the header says the export is sorted");
                        return Some(Err(at(&self.shown, line, m)));
                    }
                }
            }
            self.last.clear();
            self.last.push_str(&code);
            self.last_line = line;
            self.read += 1;
            return Some(Ok((code, entry)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Truth, load, write_line};
    use super::*;
    use crate::providers::midtrans::status::TransactionStatus;

    fn line(code: &str) -> String {
        let truth = Truth::Midtrans { status: TransactionStatus::Settlement, fraud: None };
        write_line(code, &truth, 100, 1_769_094_000_000).trim_end().to_string()
    }

    fn file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("settle-sorted-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let path = dir.join(name);
        std::fs::write(&path, text).expect("written");
        path
    }

    /// (order id, line) of every entry, or the first error.
    fn streamed(e: &ExportFile, ahead: bool) -> Result<Vec<(String, usize)>, String> {
        let entries: Box<dyn Iterator<Item = Result<(String, Entry), Error>>> =
            if ahead { Box::new(e.entries_ahead().expect("ahead")) } else { Box::new(e.entries().expect("entries")) };
        entries.map(|r| r.map(|(c, e)| (c, e.line)).map_err(|e| e.to_string())).collect()
    }

    #[test]
    fn lines_stream_with_their_numbers_as_the_whole_export_reads_them() {
        let header = Header { settle_export: 1, from: Some(0), until: Some(1), lines: 3, sorted: true }.line();
        // CRLF and LF endings, a blank line, no newline at the end.
        let text = format!("{}\r\n{}\r\n\r\n{}\n{}", header.trim_end(), line("A-1"), line("A-2é"), line("B-1"));
        let path = file("mixed.jsonl", &text);
        let export = ExportFile::open(&path).expect("opens");
        let want: Vec<(String, usize)> = vec![("A-1".into(), 2), ("A-2é".into(), 4), ("B-1".into(), 5)];
        assert_eq!(streamed(&export, false), Ok(want.clone()));
        assert_eq!(streamed(&export, true), Ok(want.clone()));
        let whole = load(&path).expect("loads");
        assert_eq!(whole.entries.iter().map(|(c, e)| (c.clone(), e.line)).collect::<Vec<_>>(), want);
    }

    #[test]
    fn an_export_without_header_or_order_is_sorted_on_disk_keeping_its_line_numbers() {
        let codes: Vec<String> = (0..300).map(|i| format!("ZVR-{:04}", (i * 7919) % 300)).collect();
        let text: String = codes.iter().map(|c| line(c) + "\n").collect();
        let export = ExportFile::open(&file("shuffled.jsonl", &text)).expect("opens");
        assert!(!export.stated && !export.header.sorted);
        let mut want: Vec<(String, usize)> = codes.iter().cloned().zip(1..).collect();
        want.sort();
        assert_eq!(streamed(&export, true), Ok(want));
        let runs = export.runs.as_ref().map(|r| r.dir.clone()).expect("sorted runs");
        drop(export);
        assert!(!runs.exists(), "the sorted runs are removed with the export");
    }

    #[test]
    fn an_id_out_of_order_or_repeated_names_its_line() {
        let header = Header { settle_export: 1, from: Some(0), until: Some(1), lines: 2, sorted: true }.line();
        let path = file("unsorted.jsonl", &format!("{header}{}\n{}\n", line("B"), line("A")));
        let shown = path.display();
        let err = streamed(&ExportFile::open(&path).expect("opens"), true);
        let want = format!("{shown}:3: order_id \"A\" comes after \"B\": the header says the export is sorted");
        assert!(err.as_ref().is_err_and(|e| e.contains(&want)), "{err:?}");
        // Repeated, without a header: sorted on disk, then found by the merge.
        let path = file("twice.jsonl", &format!("{}\n{}\n{}\n", line("B"), line("A"), line("B")));
        let err = streamed(&ExportFile::open(&path).expect("opens"), false);
        let want = format!("{}:3: order_id \"B\" appears twice (first on line 1)", path.display());
        assert!(err.as_ref().is_err_and(|e| e.contains(&want)), "{err:?}");
    }

    /// A header that states more or fewer lines than follow (an export cut short in transfer, or
    /// edited) stops the audit at the end, naming the header, sorted or not, streamed or loaded
    /// whole; otherwise the missing lines' orders would be judged absent from the provider.
    #[test]
    fn a_header_whose_line_count_is_not_the_files_names_the_header() {
        let body = format!("{}\n{}\n", line("A"), line("B"));
        for (stated, sorted) in [(3, true), (1, true), (3, false)] {
            let header = Header { settle_export: 1, from: Some(0), until: Some(1), lines: stated, sorted }.line();
            let path = file(&format!("count-{stated}-{sorted}.jsonl"), &format!("{header}{body}"));
            let want = format!("{}:1: the header says {stated} line(s) follow, but the export has 2", path.display());
            let export = ExportFile::open(&path).expect("opens");
            for ahead in [false, true] {
                let err = streamed(&export, ahead);
                assert!(err.as_ref().is_err_and(|e| e.contains(&want)), "{err:?}");
            }
            let whole = load(&path).map(|_| ()).map_err(|e| e.to_string());
            assert!(whole.as_ref().is_err_and(|e| e.contains(&want)), "{whole:?}");
        }
        let header = Header { settle_export: 1, from: Some(0), until: Some(1), lines: 2, sorted: true }.line();
        let fine = file("count-2.jsonl", &format!("{header}{body}"));
        assert_eq!(streamed(&ExportFile::open(&fine).expect("opens"), true).map(|v| v.len()), Ok(2));
        let backwards = Header { settle_export: 1, from: Some(5), until: Some(1), lines: 2, sorted: true }.line();
        let err = ExportFile::open(&file("backwards.jsonl", &format!("{backwards}{body}"))).map(|_| ());
        assert!(err.is_err_and(|e| e.to_string().contains("the header's period is backwards")));
    }

    #[test]
    fn a_line_that_is_not_utf8_stops_the_stream_with_an_error() {
        let header = Header { settle_export: 1, from: Some(0), until: Some(1), lines: 2, sorted: true }.line();
        let mut bytes = format!("{header}{}\n", line("A")).into_bytes();
        bytes.extend_from_slice(b"{\"order_id\":\"\xff\"}\n");
        let path = file("bytes.jsonl", "");
        std::fs::write(&path, bytes).expect("written");
        let got = streamed(&ExportFile::open(&path).expect("opens"), true);
        assert!(got.as_ref().is_err_and(|e| e.contains("cannot read the provider export")), "{got:?}");
    }
}
