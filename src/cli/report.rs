//! How a failed command is told: its error and the causes under it in one line, each cause once, and whether
//! the failure is only the reader having closed the pipe.

/// The error and its causes, joined by ": ", leaving out a cause whose words the message already holds after a
/// ": " (where an error writes its cause into its message).
///
/// Many errors write their cause into their own message ("cannot read config.json: No such file …") and also
/// give it as their source, so a plain walk down the chain said everything twice.
pub fn message(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let words = cause.to_string();
        if out.is_empty() {
            out = words;
        } else if !(out.ends_with(&format!(": {words}")) || out.contains(&format!(": {words}: "))) {
            out.push_str(": ");
            out.push_str(&words);
        }
    }
    out
}

/// Whether the command failed only because whoever read its output stopped reading (`attngraph analyze … |
/// head`): not an error, as for any Unix tool. The pipe's error may come inside another, as serde_json's.
pub fn reader_went_away(err: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .is_some_and(|json| json.io_error_kind() == Some(BrokenPipe))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read {path}: {source}")]
    struct Read {
        path: String,
        source: std::io::Error,
    }

    #[test]
    fn each_cause_is_told_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let err = anyhow::Error::new(Read {
            path: "m/config.json".into(),
            source: io,
        });
        assert_eq!(
            message(&err),
            "cannot read m/config.json: No such file or directory"
        );
        // A cause that the message does not hold is still told, even where its words appear inside another's.
        let err = anyhow::anyhow!("out").context("the download timed out");
        assert_eq!(message(&err), "the download timed out: out");
        let err = anyhow::anyhow!("the disk is full").context("cannot write graph.svg");
        assert_eq!(message(&err), "cannot write graph.svg: the disk is full");
    }

    #[test]
    fn a_closed_pipe_is_seen_inside_json_errors() {
        let pipe = || std::io::Error::new(std::io::ErrorKind::BrokenPipe, "Broken pipe");
        assert!(reader_went_away(&anyhow::Error::new(pipe())));
        let json = serde_json::Error::io(pipe());
        assert!(reader_went_away(
            &anyhow::Error::new(json).context("writing the JSON")
        ));
        assert!(!reader_went_away(&anyhow::anyhow!("a real failure")));
    }
}
