//! Helpers for reading text inputs (seed lists, OFAC files, label files):
//! line numbers for error messages.

/// Line numbers from byte offsets that only grow (the csv crate's own line
/// count lags by one after a CRLF line end).
pub(crate) struct LineTracker<'a> {
    data: &'a [u8],
    offset: usize,
    line: usize,
}

impl<'a> LineTracker<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        LineTracker {
            data,
            offset: 0,
            line: 1,
        }
    }

    /// The 1-based line of byte `at` (offsets before the last one asked give
    /// that one's line).
    pub(crate) fn line_at(&mut self, at: u64) -> usize {
        let mut at = usize::try_from(at)
            .unwrap_or(usize::MAX)
            .min(self.data.len());
        // A record's position may be the LF of the CRLF before it; records
        // start after line ends (the csv reader skips empty lines).
        while self
            .data
            .get(at)
            .is_some_and(|b| *b == b'\r' || *b == b'\n')
        {
            at += 1;
        }
        if at > self.offset {
            self.line += self.data[self.offset..at]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            self.offset = at;
        }
        self.line
    }

    /// The line of a CSV reading error: where the error says it is, else
    /// where the reader stands.
    pub(crate) fn error_line(&mut self, e: &csv::Error, reader_at: &csv::Position) -> usize {
        self.line_at(e.position().map_or(reader_at.byte(), csv::Position::byte))
    }

    /// The line a CSV record starts on (line 1 if the reader did not say).
    pub(crate) fn record_line(&mut self, at: Option<&csv::Position>) -> usize {
        self.line_at(at.map_or(0, csv::Position::byte))
    }
}
