//! Text material for demo data: names and sentences in several scripts, with
//! the characters that break naive exporters (commas, quotes, newlines,
//! right-to-left text, wide characters, emoji).

pub const FIRST_NAMES: &[&str] = &[
    "Ana",
    "José",
    "Zoë",
    "Björn",
    "Amélie",
    "Łukasz",
    "Dmitri",
    "Ольга",
    "Сергей",
    "Ελένη",
    "Νίκος",
    "محمد",
    "فاطمة",
    "王伟",
    "李娜",
    "佐藤",
    "さくら",
    "민준",
    "Aarav",
    "Siti",
    "Nguyễn",
    "Chloé",
    "Søren",
    "Ayşe",
];

pub const LAST_NAMES: &[&str] = &[
    "Müller",
    "Núñez",
    "García",
    "Kowalski",
    "Øster",
    "Иванова",
    "Петров",
    "Παπαδοπούλου",
    "الأحمد",
    "حسن",
    "陈",
    "张",
    "花子",
    "太郎",
    "김",
    "Sharma",
    "Rahman",
    "Trần",
    "Dubois",
    "O'Brien",
    "Smith-Jones",
    "Yılmaz",
];

pub const TOPICS: &[&str] = &[
    "Billing",
    "Onboarding",
    "Support",
    "Release planning",
    "Équipe produit",
    "Поддержка",
    "Ομάδα πωλήσεων",
    "الدعم الفني",
    "客户服务",
    "お問い合わせ",
    "Incidents 🚨",
    "Random ☕",
    "Q3 \"roadmap\"",
    "Sales, EMEA",
];

/// Sentences, several per script. Some carry commas, quotes or both.
pub const SENTENCES: &[&str] = &[
    // Latin with accents
    "Bonjour, j'ai une question sur ma facture du mois dernier.",
    "Café crème, s'il vous plaît — ça coûte 3,50 €.",
    "¿Puedes revisar el pedido número 4821? Gracias.",
    "Die Größe der Datei ist über 20 MB, bitte prüfen.",
    "Zażółć gęślą jaźń: test polskich znaków.",
    "He said \"it works on my machine\", which is not helpful.",
    "Thanks! That fixed it, finally.",
    "Could you reset my password? I'm locked out.",
    "Our order #1043 arrived damaged; can we get a refund?",
    "Meeting moved to 14:30, room \"Aurora\", 3rd floor.",
    // Cyrillic
    "Здравствуйте, у меня не работает вход в аккаунт.",
    "Спасибо, всё заработало! Хорошего дня.",
    "Пришлите, пожалуйста, счёт за октябрь.",
    // Greek
    "Καλημέρα, πότε θα σταλεί η παραγγελία μου;",
    "Ευχαριστώ πολύ για τη βοήθεια!",
    // Arabic
    "مرحبا، لدي مشكلة في تسجيل الدخول.",
    "شكرا جزيلا، تم حل المشكلة.",
    // CJK
    "你好，我想查询一下订单状态。",
    "谢谢，问题已经解决了！",
    "こんにちは、パスワードを忘れました。",
    "ありがとうございます。助かりました。",
    "안녕하세요, 결제가 두 번 되었어요.",
    // Emoji
    "Great news 🎉 the release is out!",
    "On my way 🚗💨 be there in 10",
    "👍",
    "Can't wait 😅, \"soon\" they said…",
];

pub const ASSISTANT_SENTENCES: &[&str] = &[
    "I can help with that. Could you share your order number?",
    "Here is a summary:\n- step one, check the settings\n- step two, restart the app",
    "Je peux vous aider : voici les étapes à suivre.",
    "Конечно! Вот что нужно сделать:\n1. Откройте настройки\n2. Нажмите «Сброс»",
    "好的，我来帮您处理这个问题。",
    "かしこまりました。少々お待ちください。",
    "بالتأكيد، سأساعدك في ذلك.",
    "Sure — I've created ticket \"SUP-2210\", and you'll get an email, usually within 24h.",
];

pub const FILE_NAMES: &[&str] =
    &["invoice-2026-03.pdf", "screenshot.png", "contrat_signé.pdf", "отчёт.xlsx", "会议记录.docx", "logs, full.txt"];

pub const LOCALES: &[&str] =
    &["en-GB", "fr-FR", "de-DE", "es-ES", "ru-RU", "el-GR", "ar-SA", "zh-CN", "ja-JP", "ko-KR"];
