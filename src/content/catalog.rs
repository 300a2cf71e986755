//! The catalogue of reply keys: every text the code can show, and the placeholders each
//! may use. `messages/<locale>/replies.toml` must define exactly these keys.

macro_rules! catalog {
    ($($variant:ident = $key:literal [$($param:literal),*],)*) => {
        /// A reply text, by key. The text itself lives in `messages/<locale>/replies.toml`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Msg { $($variant,)* }

        impl Msg {
            pub const ALL: &'static [Msg] = &[$(Msg::$variant,)*];

            /// The key in `replies.toml`.
            pub fn key(self) -> &'static str {
                match self { $(Msg::$variant => $key,)* }
            }

            /// The placeholders the code fills for this key; a template may use any of them.
            pub fn params(self) -> &'static [&'static str] {
                match self { $(Msg::$variant => &[$($param),*],)* }
            }

            pub fn index(self) -> usize {
                self as usize
            }
        }
    };
}

catalog! {
    Welcome = "welcome" [],
    ConsentAsk = "consent_ask" [],
    BtnAgree = "btn_agree" [],
    BtnNotNow = "btn_not_now" [],
    ConsentDeclined = "consent_declined" [],
    ConsentNeeded = "consent_needed" [],
    AlreadyEnrolled = "already_enrolled" [],
    TimezoneAsk = "timezone_ask" ["default"],
    TimezoneInvalid = "timezone_invalid" ["input"],
    TimezoneSet = "timezone_set" ["timezone"],
    OnboardingDone = "onboarding_done" [],
    Help = "help" [],
    PrivacyReport = "privacy_report" ["channel", "language", "timezone", "consented", "reminders", "dialogue"],
    PrivacyNothing = "privacy_nothing" [],
    PrivacyNotSet = "privacy_not_set" [],
    RemindersOn = "reminders_on" [],
    RemindersOff = "reminders_off" [],
    Stopped = "stopped" [],
    AlreadyStopped = "already_stopped" [],
    Resumed = "resumed" [],
    AlreadyActive = "already_active" [],
    ForgetConfirm = "forget_confirm" [],
    BtnForgetYes = "btn_forget_yes" [],
    BtnForgetNo = "btn_forget_no" [],
    ForgetDone = "forget_done" [],
    ForgetCancelled = "forget_cancelled" [],
    ForgetNothing = "forget_nothing" [],
    LanguageAsk = "language_ask" [],
    LanguageSet = "language_set" [],
    LanguageName = "language_name" [],
    UnknownCommand = "unknown_command" [],
    UnsupportedMedia = "unsupported_media" [],
    PrivateOnly = "private_only" [],
    ButtonExpired = "button_expired" [],
    EmptyMessage = "empty_message" [],
    StoreTrouble = "store_trouble" ["emergency", "lifeline"],
    Fallback = "fallback" [],
    RequestPersonal = "request_personal" [],
    RequestAction = "request_action" [],
    FaqTopics = "faq_topics" [],
    FaqTopic = "faq_topic" ["topic"],
    FaqDidYouMean = "faq_did_you_mean" [],
    FaqRelated = "faq_related" [],
    SmalltalkGreeting = "smalltalk_greeting" [],
    SmalltalkThanks = "smalltalk_thanks" [],
    SmalltalkAck = "smalltalk_ack" [],
    CrisisSuicide = "crisis_suicide" [],
    CrisisSelfHarm = "crisis_self_harm" [],
    CrisisOverdose = "crisis_overdose" [],
    CrisisWithdrawal = "crisis_withdrawal" [],
    CrisisHarmOthers = "crisis_harm_others" [],
    CrisisUnsafe = "crisis_unsafe" [],
    CrisisEmergency = "crisis_emergency" ["emergency"],
    CrisisLifeline = "crisis_lifeline" ["lifeline"],
    CrisisTextLine = "crisis_text_line" ["text_line"],
    CrisisHelpline = "crisis_helpline" ["helpline"],
    CrisisPoison = "crisis_poison" ["poison"],
    CrisisClinic = "crisis_clinic" ["clinic_line"],
    CrisisSafeAsk = "crisis_safe_ask" [],
    BtnSafeYes = "btn_safe_yes" [],
    BtnSafeNo = "btn_safe_no" [],
    SafeYesReply = "safe_yes_reply" ["lifeline"],
    SafeNoReply = "safe_no_reply" ["emergency", "lifeline"],
    TeamOffer = "team_offer" [],
    BtnTeamYes = "btn_team_yes" [],
    BtnTeamNo = "btn_team_no" [],
    TeamRequested = "team_requested" ["lifeline"],
    TeamDeclined = "team_declined" [],
    SupportCraving = "support_craving" [],
    SupportLapse = "support_lapse" [],
    SupportHighRisk = "support_high_risk" [],
    SupportOptions = "support_options" [],
    SupportHelpline = "support_helpline" ["helpline"],
    ClinicalRefusal = "clinical_refusal" ["emergency", "lifeline"],
    CmdStart = "cmd_start" [],
    CmdHelp = "cmd_help" [],
    CmdFaq = "cmd_faq" [],
    CmdPrivacy = "cmd_privacy" [],
    CmdStop = "cmd_stop" [],
    CmdResume = "cmd_resume" [],
    CmdForget = "cmd_forget" [],
    CmdLanguage = "cmd_language" [],
    CmdTimezone = "cmd_timezone" [],
}
