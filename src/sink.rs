//! Output written as it is made, for the commands whose report grows with the registry
//! (`verify` over every draft): the edge hands a [`Sink`] in, the command writes each line
//! or JSON element when it has it and keeps none of them.

use std::io::{self, Write};

use serde::Serialize;

use crate::report::{printable, styled};

/// Where a streaming command writes, and in which form (`--json`, colour, the journal).
///
/// With `--json` the elements form one array laid out as `to_string_pretty` would lay out
/// the whole array. The array is opened by its first element, so a command that fails
/// before it has one leaves nothing written; one that fails later leaves an array without
/// its closing `]`, which no JSON parser takes for a complete document.
pub struct Sink<'a> {
    out: &'a mut dyn Write,
    json: bool,
    color: bool,
    journal: bool,
    elements: u64,
}

impl<'a> Sink<'a> {
    /// A sink writing to `out`: JSON elements with `json`, lines for people otherwise,
    /// dressed as [`Output::render`](crate::report::Output::render) dresses text for `color`
    /// and `journal`.
    pub fn new(out: &'a mut dyn Write, json: bool, color: bool, journal: bool) -> Self {
        Sink {
            out,
            json,
            color,
            journal,
            elements: 0,
        }
    }

    /// Whether this sink takes JSON elements rather than lines.
    pub fn json(&self) -> bool {
        self.json
    }

    /// Writes one line for people; control characters in it are made visible (it often
    /// holds what a draft wrote).
    pub fn line(&mut self, text: &str) -> io::Result<()> {
        let mut line = printable(text).into_owned();
        line.push('\n');
        self.out
            .write_all(styled(&line, self.color, self.journal).as_bytes())
    }

    /// Writes the next element of the JSON array.
    pub fn element(&mut self, value: &impl Serialize) -> io::Result<()> {
        let pretty = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
        self.out
            .write_all(if self.elements == 0 { b"[\n" } else { b",\n" })?;
        // Pretty JSON holds no raw line break inside a string, so every line break is
        // layout and takes the array's indent.
        for (i, line) in pretty.split('\n').enumerate() {
            if i > 0 {
                self.out.write_all(b"\n")?;
            }
            self.out.write_all(b"  ")?;
            self.out.write_all(line.as_bytes())?;
        }
        self.elements += 1;
        Ok(())
    }

    /// Closes the JSON array (an empty one if no element came).
    pub fn end_array(&mut self) -> io::Result<()> {
        self.out.write_all(if self.elements == 0 {
            b"[]\n"
        } else {
            b"\n]\n"
        })
    }
}

/// A writer for stdout that takes a closed pipe (`| head`) as the reader's choice, not our
/// failure: once a write fails with `BrokenPipe`, it and every later write succeed without
/// writing. A streaming command then goes on to its end, so its exit code still says what
/// it found.
#[derive(Debug)]
pub struct Pipe<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> Pipe<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Pipe {
            inner,
            closed: false,
        }
    }
}

impl<W: Write> Write for Pipe<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        match self.inner.write(buf) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(buf.len())
            }
            other => other,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        match self.inner.flush() {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streamed_array_is_laid_out_as_the_whole_array_would_be() {
        let values = [
            serde_json::json!({"a": 1, "b": [true, "x\ny"]}),
            serde_json::json!({"a": null}),
        ];
        let mut out = Vec::new();
        let mut sink = Sink::new(&mut out, true, false, false);
        for v in &values {
            sink.element(v).expect("write");
        }
        sink.end_array().expect("write");
        let mut whole = serde_json::to_string_pretty(&values).expect("serialize");
        whole.push('\n');
        assert_eq!(String::from_utf8(out).expect("utf8"), whole);

        let mut out = Vec::new();
        Sink::new(&mut out, true, false, false)
            .end_array()
            .expect("write");
        assert_eq!(out, b"[]\n");
    }

    #[test]
    fn an_array_cut_short_is_not_a_json_document() {
        let mut out = Vec::new();
        let mut sink = Sink::new(&mut out, true, false, false);
        sink.element(&serde_json::json!({"a": 1})).expect("write");
        assert!(serde_json::from_slice::<serde_json::Value>(&out).is_err());
    }

    #[test]
    fn lines_show_control_characters_and_paint_outcome_words() {
        let mut out = Vec::new();
        let mut sink = Sink::new(&mut out, false, true, false);
        sink.line("FAILED  01X  bad\u{1b}[2J\nline").expect("write");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "\x1b[31mFAILED\x1b[0m  01X  bad\\u{1b}[2J\\u{a}line\n"
        );
    }

    /// A writer whose reader has gone.
    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
    }

    #[test]
    fn a_closed_pipe_swallows_writes_but_other_errors_pass() {
        let mut pipe = Pipe::new(Closed);
        pipe.write_all(b"verdict\n")
            .expect("a closed pipe is not an error");
        pipe.write_all(b"more\n").expect("nor later writes");
        pipe.flush().expect("nor a flush");
        assert!(pipe.closed);

        let mut full: &mut [u8] = &mut [];
        let mut pipe = Pipe::new(&mut full);
        assert_eq!(
            pipe.write_all(b"x")
                .expect_err("a full writer fails")
                .kind(),
            io::ErrorKind::WriteZero
        );
    }
}
