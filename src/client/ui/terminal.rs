//! The terminal face of `join`: a rustyline editor on its own thread, whose
//! external printer puts incoming lines above the line being typed; Tab
//! completes commands and names.

use rustyline::error::ReadlineError;
use rustyline::ExternalPrinter;
use tokio::sync::mpsc;

use super::commands::COMMANDS;
use super::{Input, Names, Output, SharedRooms};

/// Completions of the word that ends at `pos`: where it starts, and the
/// candidates (`rooms` for a word starting with `#`, else `names`).
pub fn complete(
    line: &str,
    pos: usize,
    names: &[String],
    rooms: &[String],
) -> (usize, Vec<String>) {
    let head = &line[..pos];
    if !head.contains(' ') && head.starts_with('/') {
        let mut c: Vec<String> = COMMANDS
            .iter()
            .filter_map(|(c, _)| c.split(' ').next())
            .filter(|c| c.starts_with(head) && *c != "//text")
            .map(|c| format!("{c} "))
            .collect();
        c.dedup();
        return (0, c);
    }
    let start = head.rfind(' ').map_or(0, |i| i + 1);
    let word = head[start..].to_lowercase();
    if word.starts_with('#') {
        let mut c: Vec<String> = rooms
            .iter()
            .filter(|r| r.to_lowercase().starts_with(&word))
            .map(|r| format!("{r} "))
            .collect();
        c.sort();
        return (start, c);
    }
    let mut c: Vec<String> = names
        .iter()
        .filter(|n| n.to_lowercase().starts_with(&word))
        .map(|n| {
            if n.contains(' ') {
                format!("\"{n}\" ")
            } else {
                format!("{n} ")
            }
        })
        .collect();
    c.sort();
    (start, c)
}

pub(crate) struct EditorOutput<P: ExternalPrinter + Send>(P);

impl<P: ExternalPrinter + Send> Output for EditorOutput<P> {
    fn line(&mut self, text: String) -> std::io::Result<()> {
        // The terminal going away ends the editor, which ends the session.
        let _ = self.0.print(format!("{text}\n"));
        Ok(())
    }
}

/// Start the editor; `None` when this is not a terminal it can drive.
pub fn start(
    tx: mpsc::Sender<Input>,
    prompt: String,
    names: Names,
    rooms: SharedRooms,
) -> Option<Box<dyn Output>> {
    // The prompts' editor: a line typed ahead while `join` connected is in
    // its buffer, and is the first line read here.
    let mut editor = crate::prompt::take_editor().ok()?;
    // Tab: command names after a leading `/`, room names for a word that
    // starts with `#`, else the names in the room.
    editor.set_helper(Some(crate::prompt::LineHelper(Some(Box::new(
        move |line: &str, pos: usize| {
            let names = names.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let rooms = rooms.lock().unwrap_or_else(|e| e.into_inner()).names();
            complete(line, pos, &names, &rooms)
        },
    )))));
    let printer = editor.create_external_printer().ok()?;
    std::thread::spawn(move || loop {
        match editor.readline(&prompt) {
            Ok(line) => {
                if line.trim().is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(line.as_str());
                if tx.blocking_send(Input::Line(None, line)).is_err() {
                    return;
                }
            }
            // Ctrl-C: leave now; Ctrl-D: leave once queued lines are sent.
            Err(ReadlineError::Interrupted) => {
                let _ = tx.blocking_send(Input::Interrupt);
                return;
            }
            Err(ReadlineError::Eof) => {
                let _ = tx.blocking_send(Input::Quit);
                return;
            }
            Err(_) => {
                let _ = tx.blocking_send(Input::Quit);
                return;
            }
        }
    });
    Some(Box::new(EditorOutput(printer)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tab_completes_commands_and_names() {
        let names = vec![
            "alice".to_string(),
            "Alan Turing".to_string(),
            "bob".to_string(),
        ];
        assert_eq!(
            complete("/ni", 3, &names, &[]),
            (0, vec!["/nick ".to_string()])
        );
        assert_eq!(
            complete("/h", 2, &names, &[]).1,
            vec!["/help ", "/history "]
        );
        assert_eq!(
            complete("/msg al", 7, &names, &[]),
            (
                5,
                vec!["\"Alan Turing\" ".to_string(), "alice ".to_string()]
            )
        );
        assert_eq!(
            complete("hi B", 4, &names, &[]),
            (3, vec!["bob ".to_string()])
        );
        let rooms = vec![
            "#help".to_string(),
            "#hello".to_string(),
            "#rust".to_string(),
        ];
        assert_eq!(
            complete("/join #he", 9, &names, &rooms),
            (6, vec!["#hello ".to_string(), "#help ".to_string()])
        );
        assert_eq!(complete("/switch #r", 10, &names, &rooms).1, vec!["#rust "]);
    }
}
