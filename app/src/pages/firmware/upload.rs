//! Sends a firmware image as the raw body of `POST /api/firmware/upload` with an
//! `XMLHttpRequest`, whose upload progress events drive the progress bar (`fetch` reports no
//! upload progress). On the server this does nothing: uploads start in the browser.
use domain::AppError;
use domain::firmware::{FirmwareDraft, FirmwareView};
use leptos::prelude::*;

/// Uploads the chosen file; `progress` runs from 0 to 100 while it goes, `done` gets the
/// artifact or the panel's error.
#[cfg(feature = "hydrate")]
pub fn send(
    file: NodeRef<leptos::html::Input>,
    draft: FirmwareDraft,
    progress: RwSignal<Option<u32>>,
    done: Callback<Result<FirmwareView, AppError>>,
) {
    use wasm_bindgen::JsCast;
    use wasm_bindgen::prelude::Closure;

    let Some(chosen) = file
        .get()
        .and_then(|input| input.files())
        .and_then(|files| files.get(0))
    else {
        done.run(Err(AppError::Validation(domain::ValidationError::new(
            "file",
            "Choose the image file",
        ))));
        return;
    };
    let enc = |s: &str| String::from(js_sys::encode_uri_component(s));
    let url = format!(
        "{}?version={}&target={}&notes={}",
        crate::api::UPLOAD_PATH,
        enc(&draft.version),
        enc(&draft.target),
        enc(&draft.notes)
    );
    let Ok(xhr) = web_sys::XmlHttpRequest::new() else {
        done.run(Err(AppError::Unavailable(
            "This browser cannot upload files.".into(),
        )));
        return;
    };
    if xhr.open("POST", &url).is_err() {
        done.run(Err(AppError::Unavailable(
            "The upload could not start.".into(),
        )));
        return;
    }
    progress.set(Some(0));
    if let Ok(upload) = xhr.upload() {
        let on_progress =
            Closure::<dyn FnMut(web_sys::ProgressEvent)>::new(move |e: web_sys::ProgressEvent| {
                if e.length_computable() && e.total() > 0.0 {
                    progress.set(Some((e.loaded() / e.total() * 100.0).round() as u32));
                }
            });
        upload.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
        on_progress.forget();
    }
    let answered = xhr.clone();
    let on_load = Closure::<dyn FnMut()>::new(move || {
        let status = answered.status().unwrap_or(0);
        let body = answered.response_text().ok().flatten().unwrap_or_default();
        let result = if status == 200 {
            serde_json::from_str::<FirmwareView>(&body)
                .map_err(|_| AppError::Unavailable("The panel's answer was unreadable.".into()))
        } else {
            Err(serde_json::from_str::<AppError>(&body).unwrap_or_else(|_| {
                AppError::Unavailable(format!("The upload failed (HTTP {status}): {body}"))
            }))
        };
        done.run(result);
    });
    xhr.set_onload(Some(on_load.as_ref().unchecked_ref()));
    on_load.forget();
    let on_error = Closure::<dyn FnMut()>::new(move || {
        done.run(Err(AppError::Unavailable(
            "The upload was interrupted.".into(),
        )));
    });
    xhr.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    on_error.forget();
    if xhr.send_with_opt_blob(Some(&chosen)).is_err() {
        done.run(Err(AppError::Unavailable(
            "The upload could not start.".into(),
        )));
    }
}

#[cfg(not(feature = "hydrate"))]
pub fn send(
    _file: NodeRef<leptos::html::Input>,
    _draft: FirmwareDraft,
    _progress: RwSignal<Option<u32>>,
    _done: Callback<Result<FirmwareView, AppError>>,
) {
}
