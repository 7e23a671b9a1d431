//! The page on a phone (390 × 844) and a laptop (1280 × 800): one column
//! with drawers on the phone, the input on screen, tap targets of 44 px and
//! inputs of 16 px; the keyboard (Alt+↓ switches rooms, Escape closes a
//! drawer), its focus ring seen, reduced motion honoured; a direct message
//! notified when the tab is in the background; axe-core's WCAG 2.1 A/AA rules in both sizes and both colour
//! schemes; the wire panel's packets; README's two screenshots, at their
//! true sizes.

use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use serde_json::{json, Value};

use super::driver::*;
use super::{terminal, Site};

const PHONE: (u32, u32) = (390, 844);
const LAPTOP: (u32, u32) = (1280, 800);

/// Every control on screen smaller than 44 × 44 px, and every input whose
/// text is under 16 px (iOS zooms into those).
async fn too_small(c: &Client) -> Value {
    js(
        c,
        "const out = [];
         for (const e of document.querySelectorAll('button, input, a, [tabindex]')) {
           const r = e.getBoundingClientRect();
           const s = getComputedStyle(e);
           if (!r.width || !r.height || s.visibility === 'hidden' || e.id === 'lines' || e.id === 'wire') continue;
           if (r.right <= 0 || r.left >= innerWidth) continue;
           const label = e.id || e.getAttribute('aria-label') || e.textContent.trim();
           if (e.type === 'checkbox') continue;
           if (r.height < 44 || r.width < 44) out.push(`${label}: ${Math.round(r.width)}x${Math.round(r.height)}`);
           if (e.tagName === 'INPUT' && parseFloat(s.fontSize) < 16) out.push(`${label}: ${s.fontSize} text`);
         }
         return out;",
        vec![],
    )
    .await
}

/// axe in both colour schemes; the violations of each.
async fn axe_both(c: &Client, what: &str) {
    for s in ["light", "dark"] {
        scheme(c, s).await;
        let found = axe(c).await;
        assert!(
            found.is_empty(),
            "axe on {what}, {s}:\n{}",
            found.join("\n")
        );
    }
}

async fn press(c: &Client, keys: &str) {
    c.find(Locator::Id("text"))
        .await
        .unwrap()
        .send_keys(keys)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_fits_a_phone_and_a_laptop_and_passes_axe_in_both_schemes() {
    let site = Site::new();
    let (server, url) = site.start();
    let (_driver, port) = tokio::task::block_in_place(chromedriver);
    let (mut ines, mut ben) = tokio::task::block_in_place(|| {
        let mut ines = terminal(&server, "Ines", "#rust");
        ines.send_line("/topic Rust class: closures, then the borrow checker");
        ines.send_line("Good morning! Today: closures. The slides are on the class page.");
        ines.stdout.expect("closures. The slides");
        let mut ben = terminal(&server, "Ben", "#rust");
        ben.send_line("/me waves from the back row");
        ben.send_line("Does a closure borrow or move what it captures?");
        ines.stdout.expect("borrow or move");
        (ines, ben)
    });

    let phone = browser(port, PHONE.0, PHONE.1).await;
    phone.goto(&url).await.unwrap();
    axe_both(&phone, "the login on a phone").await;
    join_page(&phone, &url, "Sam", "#rust #help").await;
    tokio::task::block_in_place(|| {
        ines.send_line("Sam: it borrows by default; `move` makes it take ownership.");
        ben.send_line("That explains my error, thanks!");
        ines.stdout.expect("my error, thanks");
    });
    say(&phone, "Reading this on my phone: works fine").await;
    wait_text(&phone, "works fine").await;
    let laptop = browser(port, LAPTOP.0, LAPTOP.1).await;
    join_page(&laptop, &url, "Ada", "#rust #help").await;
    say(
        &laptop,
        "Ines, could you post the exercise for after the break?",
    )
    .await;
    tokio::task::block_in_place(|| {
        ines.send_line("Ada: yes, it is in #help in five minutes.");
        ines.stdout.expect("in five minutes");
    });
    wait_text(&laptop, "in five minutes").await;
    // Her tab in the background, notifications allowed (the browser's side
    // stood in for: a headless tab is never hidden and shows none): a
    // direct message is notified, a line of the room is not.
    js(
        &laptop,
        "Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
         window.shown = [];
         window.Notification = class { constructor(t, o) { window.shown.push([t, o.body]); }
                                       static get permission() { return 'granted'; } };",
        vec![],
    )
    .await;
    tokio::task::block_in_place(|| {
        ines.send_line("the break is over in five");
        ben.send_line("/msg Ada thanks for asking, I was lost too")
    });
    poll_page(
        "Ben's message in its own conversation",
        async || conv_labels(&laptop).await,
        |l| l.iter().any(|x| x.starts_with("Ben 1")),
    )
    .await;
    wait_text(&laptop, "the break is over in five").await;
    let shown = poll_page(
        "a notification",
        async || js(&laptop, "return window.shown;", vec![]).await,
        |s| s.as_array().is_some_and(|a| !a.is_empty()),
    )
    .await;
    assert_eq!(
        shown,
        json!([["Ben (direct message)", "thanks for asking, I was lost too"]])
    );
    js(
        &laptop,
        "delete document.hidden; document.dispatchEvent(new Event('visibilitychange'));",
        vec![],
    )
    .await;
    wait_text(&phone, "in five minutes").await;

    // The phone: one column, nothing wider than the screen, the input on screen,
    // the lines given the height, every control a thumb's size.
    let fits = js(
        &phone,
        "const t = document.getElementById('text').getBoundingClientRect();
         const lines = document.getElementById('lines').getBoundingClientRect();
         const side = document.getElementById('side').getBoundingClientRect();
         const d = document.documentElement;
         return [d.scrollWidth <= innerWidth, t.top >= 0 && t.bottom <= innerHeight && t.left >= 0 && t.right <= innerWidth,
                 lines.height >= innerHeight * 0.5, side.right <= 0];",
        vec![],
    )
    .await;
    assert_eq!(fits, json!([true, true, true, true]),
        "on a phone: [no sideways scroll, the input on screen, the lines get the height, the rooms in a drawer]");
    assert_eq!(
        too_small(&phone).await,
        json!([]),
        "controls under 44 px or inputs under 16 px"
    );
    // The rooms' drawer opens, its controls are a thumb's size too, Escape closes it.
    click(&phone, "#side-open").await;
    poll_page(
        "the drawer open",
        async || {
            js(
                &phone,
                "return document.getElementById('side').getBoundingClientRect().left;",
                vec![],
            )
            .await
        },
        |l| l.as_f64() == Some(0.0),
    )
    .await;
    assert_eq!(
        too_small(&phone).await,
        json!([]),
        "in the drawer: controls under 44 px"
    );
    axe_both(&phone, "the chat on a phone, its room drawer open").await;
    phone
        .active_element()
        .await
        .unwrap()
        .send_keys(&Key::Escape.to_string())
        .await
        .unwrap();
    poll_page(
        "the drawer closed",
        async || {
            js(
                &phone,
                "return document.getElementById('side').classList.contains('open');",
                vec![],
            )
            .await
        },
        |o| *o == json!(false),
    )
    .await;
    let back = js(&phone, "return document.activeElement.id;", vec![]).await;
    assert_eq!(
        back,
        json!("side-open"),
        "the keyboard is back on the drawer's button"
    );
    // The keyboard's focus is seen: a 3 px outline.
    let ring = js(
        &phone,
        "const e = document.activeElement, s = getComputedStyle(e);
         return [e.matches(':focus-visible'), s.outlineStyle, s.outlineWidth];",
        vec![],
    )
    .await;
    assert_eq!(ring, json!([true, "solid", "3px"]), "the focus ring");
    // The drawers slide, unless reduced motion is asked for.
    let slide = async || {
        js(
            &phone,
            "return getComputedStyle(document.getElementById('side')).transitionDuration;",
            vec![],
        )
        .await
    };
    assert_ne!(slide().await, json!("0s"));
    media(&phone, "prefers-reduced-motion", "reduce").await;
    assert_eq!(slide().await, json!("0s"), "motion under reduced motion");
    scheme(&phone, "light").await;
    // Alt+↓ and Alt+↑ switch rooms from the keyboard.
    press(&phone, &format!("{}{}{}", Key::Alt, Key::Down, Key::Alt)).await;
    wait_in(&phone, "room-name", "#help").await;
    press(&phone, &format!("{}{}{}", Key::Alt, Key::Up, Key::Alt)).await;
    wait_in(&phone, "room-name", "#rust").await;
    axe_both(&phone, "the chat on a phone").await;
    scheme(&phone, "light").await;
    save_screenshot(&phone, "web-phone.png").await;

    // The learner's view: every packet in and out, readable, behind a toggle.
    click(&laptop, "#wire-toggle").await;
    let packets = wait_in(&laptop, "packets", "← {\"type\":\"chat\"").await;
    assert!(
        packets.contains("→ {\"type\":\"chat\",\"text\":\"Ines, could you post"),
        "{packets}"
    );
    axe_both(&laptop, "the chat on a laptop, the wire panel open").await;
    click(&laptop, "#wire-toggle").await;
    axe_both(&laptop, "the chat on a laptop").await;
    scheme(&laptop, "light").await;
    save_screenshot(&laptop, "web.png").await;
    for (name, size) in [("web-phone.png", PHONE), ("web.png", LAPTOP)] {
        let png = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("docs")
                .join(name),
        )
        .unwrap();
        assert_eq!(png_size(&png), size, "docs/{name} at its true size");
    }
    phone.close().await.unwrap();
    laptop.close().await.unwrap();
}
