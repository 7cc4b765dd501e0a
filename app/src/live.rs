//! Browser-side live state: change notifications from `GET /events`, a ticking clock for relative
//! times, and toasts. On the server these are inert signals, so SSR renders the same first frame.
use std::collections::HashSet;

use domain::AppError;
use leptos::prelude::*;

/// Counters bumped when the server reports a change in an area; resources read them to refetch.
#[derive(Clone, Copy)]
pub struct Live {
    pub nodes: RwSignal<u64>,
    pub keys: RwSignal<u64>,
    pub users: RwSignal<u64>,
    pub clusters: RwSignal<u64>,
    pub library: RwSignal<u64>,
    pub firmware: RwSignal<u64>,
    /// The browser's clock in ms, ticking every second once hydrated (None during SSR/hydration).
    pub now: RwSignal<Option<i64>>,
    /// The nodes the page shows when it shows only some (a page of the list, one node): a change
    /// to another node only refreshes it now and then, for its counts. `None`: every change.
    pub watched_nodes: StoredValue<Option<HashSet<String>>>,
}

impl Live {
    fn new() -> Self {
        Self {
            nodes: RwSignal::new(0),
            keys: RwSignal::new(0),
            users: RwSignal::new(0),
            clusters: RwSignal::new(0),
            library: RwSignal::new(0),
            firmware: RwSignal::new(0),
            now: RwSignal::new(None),
            watched_nodes: StoredValue::new(None),
        }
    }

    /// From now until the calling component goes, only changes to the nodes given to
    /// [`Live::watch_nodes`] refresh at once (see [`Live::watched_nodes`]).
    pub fn watch_some_nodes(&self) {
        self.watched_nodes.set_value(Some(HashSet::new()));
        let watched = self.watched_nodes;
        on_cleanup(move || watched.set_value(None));
    }

    /// The nodes the page shows now.
    pub fn watch_nodes(&self, ids: impl IntoIterator<Item = String>) {
        self.watched_nodes
            .set_value(Some(ids.into_iter().collect()));
    }
}

pub fn use_live() -> Live {
    use_context::<Live>().unwrap_or_else(Live::new)
}

#[derive(Clone, Debug, PartialEq)]
pub enum ToastKind {
    Success,
    Error,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Toast {
    pub id: u64,
    pub kind: ToastKind,
    pub text: String,
}

#[derive(Clone, Copy)]
pub struct Toasts {
    list: RwSignal<Vec<Toast>>,
    next: RwSignal<u64>,
}

impl Toasts {
    pub fn list(&self) -> Vec<Toast> {
        self.list.get()
    }

    pub fn success(&self, text: impl Into<String>) {
        self.push(ToastKind::Success, text.into());
    }

    pub fn error(&self, e: &AppError) {
        self.push(ToastKind::Error, e.to_string());
    }

    pub fn dismiss(&self, id: u64) {
        self.list.update(|l| l.retain(|t| t.id != id));
    }

    fn push(&self, kind: ToastKind, text: String) {
        let id = self.next.get_untracked() + 1;
        self.next.set(id);
        self.list.update(|l| l.push(Toast { id, kind, text }));
        #[cfg(feature = "hydrate")]
        {
            let this = *self;
            set_timeout(move || this.dismiss(id), std::time::Duration::from_secs(6));
        }
    }
}

pub fn use_toasts() -> Toasts {
    use_context::<Toasts>().unwrap_or_else(|| Toasts {
        list: RwSignal::new(vec![]),
        next: RwSignal::new(0),
    })
}

/// Reports the answer of an action that changes something: `done` as a success toast, then
/// `refresh` bumped so the views that read it load again; an error as an error toast.
pub fn report_done(
    answer: impl Fn() -> Option<Result<(), AppError>> + 'static,
    done: &'static str,
    refresh: RwSignal<u64>,
) {
    let toasts = use_toasts();
    Effect::new(move |_| match answer() {
        Some(Ok(())) => {
            toasts.success(done);
            refresh.update(|n| *n += 1);
        }
        Some(Err(e)) => toasts.error(&e),
        None => {}
    });
}

/// Provides the contexts; in the browser also subscribes to `/events` and starts the clock.
pub fn provide_live() {
    let live = Live::new();
    provide_context(live);
    provide_context(Toasts {
        list: RwSignal::new(vec![]),
        next: RwSignal::new(0),
    });
    #[cfg(feature = "hydrate")]
    browser::start(live);
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::Live;
    use domain::event::UiEvent;
    use leptos::prelude::*;
    use std::time::Duration;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::prelude::Closure;
    use web_sys::{EventSource, MessageEvent};

    /// Bumps happen at most every 300 ms per area, so a burst of changes is one refetch.
    const COALESCE: Duration = Duration::from_millis(300);
    /// How often changes to nodes a page does not show refresh it (for its counts).
    const ELSEWHERE: Duration = Duration::from_secs(10);

    pub fn start(live: Live) {
        Effect::new(move |_| {
            live.now.set(Some(js_sys::Date::now() as i64));
            let _ = set_interval_with_handle(
                move || live.now.set(Some(js_sys::Date::now() as i64)),
                Duration::from_secs(1),
            );
            connect(live);
        });
    }

    fn connect(live: Live) {
        let Ok(source) = EventSource::new(UiEvent::SSE_PATH) else {
            return;
        };
        let pending: StoredValue<[bool; 7], LocalStorage> = StoredValue::new_local([false; 7]);
        let later = move |slot: usize, signal: RwSignal<u64>, wait: Duration| {
            if pending.with_value(|p| p[slot]) {
                return;
            }
            pending.update_value(|p| p[slot] = true);
            set_timeout(
                move || {
                    pending.update_value(|p| p[slot] = false);
                    signal.update(|n| *n += 1);
                },
                wait,
            );
        };
        let bump = move |slot: usize, signal: RwSignal<u64>| later(slot, signal, COALESCE);
        let on_change = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            let Some(text) = ev.data().as_string() else {
                return;
            };
            match serde_json::from_str::<UiEvent>(&text) {
                Ok(UiEvent::Node { id }) => {
                    let shown = live
                        .watched_nodes
                        .with_value(|w| w.as_ref().is_none_or(|ids| ids.contains(&id)));
                    if shown {
                        bump(0, live.nodes);
                    } else {
                        later(6, live.nodes, ELSEWHERE);
                    }
                    // Node presence feeds cluster status and firmware upgrades too.
                    bump(3, live.clusters);
                    bump(5, live.firmware);
                }
                Ok(UiEvent::Cluster { .. }) => bump(3, live.clusters),
                Ok(UiEvent::Keys) => bump(1, live.keys),
                Ok(UiEvent::Users) => bump(2, live.users),
                Ok(UiEvent::Library) => bump(4, live.library),
                Ok(UiEvent::Firmware) => bump(5, live.firmware),
                Err(_) => {}
            }
        });
        let on_resync = Closure::<dyn FnMut(MessageEvent)>::new(move |_| {
            bump(0, live.nodes);
            bump(1, live.keys);
            bump(2, live.users);
            bump(3, live.clusters);
            bump(4, live.library);
            bump(5, live.firmware);
        });
        let _ =
            source.add_event_listener_with_callback("change", on_change.as_ref().unchecked_ref());
        let _ =
            source.add_event_listener_with_callback("resync", on_resync.as_ref().unchecked_ref());
        // The browser reconnects an EventSource by itself; after a reconnect we may have missed
        // changes, so refetch everything.
        let _ = source.add_event_listener_with_callback("open", on_resync.as_ref().unchecked_ref());
        let holder = StoredValue::new_local(Some((source, on_change, on_resync)));
        on_cleanup(move || {
            if let Some((source, _, _)) = holder.try_update_value(|h| h.take()).flatten() {
                source.close();
            }
        });
    }
}
