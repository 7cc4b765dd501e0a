//! Text files in and out of the browser: reading a chosen file, and the `data:` URL a download
//! link carries (the Global Config's upload and download, the secrets' values and `.txt`).
use leptos::prelude::*;

/// Percent-encodes a text for a `data:` URL.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reads the chosen file as text and hands it over (in the browser; nothing on the server).
#[cfg(feature = "hydrate")]
pub fn read_file(input: NodeRef<leptos::html::Input>, done: impl Fn(String) + 'static) {
    let Some(file) = input
        .get()
        .and_then(|i| i.files())
        .and_then(|files| files.get(0))
    else {
        return;
    };
    leptos::task::spawn_local(async move {
        let text = wasm_bindgen_futures::JsFuture::from(file.text()).await;
        if let Some(t) = text.ok().and_then(|v| v.as_string()) {
            done(t);
        }
        if let Some(i) = input.get() {
            i.set_value("");
        }
    });
}

#[cfg(not(feature = "hydrate"))]
pub fn read_file(_input: NodeRef<leptos::html::Input>, _done: impl Fn(String) + 'static) {}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn encodes_everything_but_unreserved_characters() {
        assert_eq!(encode("A=b c\n\"ä\""), "A%3Db%20c%0A%22%C3%A4%22");
    }
}
