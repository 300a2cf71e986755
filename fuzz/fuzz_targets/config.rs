//! `Config::parse` on arbitrary text: it returns Ok or Err, never panics. When it accepts
//! the text, the engine is run on the settings it produced (planning with its programs,
//! ladder, quiet hours and time zones), which must not panic either.
#![no_main]

mod common;

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use waypoint::config::Config;
use waypoint::engine::buttons::Action;
use waypoint::engine::{Body, Engine, Stored};

use common::Shape;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(config) = Config::parse(Path::new("fuzz.toml"), &text) else {
        return;
    };
    let programs: Vec<String> = config
        .settings
        .schedules
        .programs
        .iter()
        .map(|p| p.id.clone())
        .collect();
    let engine = Engine::new(common::content(), config.settings);
    // Settled (program "evening", Chicago) alumnus; settled newcomer; bare newcomer.
    for control in [0b0001_1000u8, 0b0000_1000, 0b1000_0001] {
        let shape = Shape::from_byte(control);
        let stored = Stored::Found(shape.record());
        for text in [
            "how long is the program?",
            "/program",
            "/timezone",
            "/privacy",
        ] {
            let outcome = engine.handle(&stored, &shape.inbound(Body::Text(text.into())));
            common::check(&outcome, text);
        }
        for id in &programs {
            let press = Action::Program(id.clone()).encode();
            let outcome = engine.handle(&stored, &shape.inbound(Body::Button(press)));
            common::check(&outcome, "a program button");
            // Answer whatever that offered (an RSVP, a time zone), one level deep.
            for data in common::buttons(&outcome) {
                let next = engine.handle(&stored, &shape.inbound(Body::Button(data)));
                common::check(&next, "a button the engine offered");
            }
        }
        let outcome = engine.triage("hi", shape.locale(), shape.at());
        common::check(&outcome, "triage");
    }
});
