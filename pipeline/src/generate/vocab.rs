//! Word lists of the generator. Each mood archetype pairs genres with tags,
//! title words and synopsis fragments of a matching tone, so the moods the
//! pipeline finds in generated data are there by construction.

/// A family of films that share genres and an emotional tone.
pub struct Archetype {
    /// Name, for documentation and tests only; never written to the data.
    pub name: &'static str,
    /// Genres films of this archetype are drawn from (the first is likeliest).
    pub genres: &'static [&'static str],
    /// User tags with the archetype's tone.
    pub tags: &'static [&'static str],
    /// Words that appear in titles.
    pub title_words: &'static [&'static str],
    /// Synopsis subjects ("A grieving detective").
    pub subjects: &'static [&'static str],
    /// Synopsis predicates ("uncovers a horrifying conspiracy").
    pub predicates: &'static [&'static str],
    /// Mean rating of the archetype's films.
    pub quality: f64,
}

/// The archetypes, in a fixed order (the generator indexes them).
pub const ARCHETYPES: &[Archetype] = &[
    Archetype {
        name: "dark",
        genres: &["Horror", "Thriller", "Mystery", "Crime", "Film-Noir"],
        tags: &[
            "dark",
            "disturbing",
            "creepy",
            "scary",
            "bleak",
            "gruesome",
            "terrifying",
            "murder",
            "evil",
            "nightmare",
        ],
        title_words: &[
            "Dead", "Shadow", "Blood", "Grave", "Night", "Fear", "Silence", "Hollow", "Curse", "Dread",
        ],
        subjects: &[
            "A grieving widow",
            "A disturbed loner",
            "A small-town sheriff",
            "A cursed family",
            "Two stranded hikers",
        ],
        predicates: &[
            "uncovers a horrifying conspiracy of murder and betrayal",
            "is hunted by a brutal killer through a dying town",
            "faces a terrifying evil that feeds on fear and pain",
            "descends into a nightmare of violence and despair",
        ],
        quality: 3.2,
    },
    Archetype {
        name: "tense",
        genres: &["Action", "Thriller", "War", "Crime", "Sci-Fi"],
        tags: &[
            "intense",
            "violent",
            "gritty",
            "revenge",
            "explosive",
            "war",
            "chase",
            "betrayal",
            "tense",
            "suspense",
        ],
        title_words: &[
            "Strike", "Fury", "Target", "Zero", "Protocol", "Siege", "Edge", "Force", "Vendetta", "Hunt",
        ],
        subjects: &[
            "A rogue agent",
            "An elite soldier",
            "A hardened detective",
            "A desperate pilot",
            "A former assassin",
        ],
        predicates: &[
            "fights a ruthless cartel to stop a deadly attack",
            "battles enemy forces in a violent war for survival",
            "takes brutal revenge on the men who killed his partner",
            "races against time to prevent a catastrophic strike",
        ],
        quality: 3.4,
    },
    Archetype {
        name: "heartwarming",
        genres: &["Children", "Animation", "Comedy", "Musical", "Fantasy"],
        tags: &[
            "heartwarming",
            "funny",
            "cute",
            "feel-good",
            "delightful",
            "charming",
            "family",
            "friendship",
            "fun",
            "magical",
        ],
        title_words: &[
            "Happy",
            "Little",
            "Magic",
            "Sunny",
            "Friends",
            "Adventure",
            "Wonder",
            "Party",
            "Dream",
            "Smile",
        ],
        subjects: &[
            "A cheerful puppy",
            "Two best friends",
            "A curious young girl",
            "A kind old toymaker",
            "A lovable robot",
        ],
        predicates: &[
            "finds joy and true friendship on a delightful adventure",
            "learns to laugh and love with a wonderful new family",
            "brings happiness to a whole town with a magical gift",
            "discovers the fun and warmth of helping others",
        ],
        quality: 3.7,
    },
    Archetype {
        name: "romantic",
        genres: &["Romance", "Comedy", "Drama"],
        tags: &[
            "romantic",
            "love",
            "sweet",
            "beautiful",
            "charming",
            "touching",
            "cute",
            "chick flick",
            "witty",
            "lovely",
        ],
        title_words: &[
            "Love",
            "Heart",
            "Kiss",
            "Paris",
            "Summer",
            "Forever",
            "Darling",
            "Wedding",
            "Promise",
            "Valentine",
        ],
        subjects: &[
            "A shy baker",
            "Two rival writers",
            "A charming stranger",
            "A bride-to-be",
            "An old flame",
        ],
        predicates: &[
            "falls in love during a beautiful summer in Paris",
            "finds romance and a sweet second chance at happiness",
            "discovers that true love is worth every risk",
            "shares a charming and tender love story",
        ],
        quality: 3.5,
    },
    Archetype {
        name: "inspiring",
        genres: &["Drama", "Documentary", "Adventure", "War"],
        tags: &[
            "inspiring",
            "inspirational",
            "great",
            "powerful",
            "hope",
            "courage",
            "true story",
            "triumph",
            "brilliant",
            "masterpiece",
        ],
        title_words: &[
            "Rise", "Hope", "Glory", "Journey", "Champion", "Freedom", "Light", "Spirit", "Brave", "Victory",
        ],
        subjects: &[
            "A determined coach",
            "A young refugee",
            "A brilliant scientist",
            "A courageous nurse",
            "An unlikely champion",
        ],
        predicates: &[
            "inspires a nation with courage, hope and determination",
            "triumphs over injustice to win freedom and respect",
            "achieves a brilliant victory against all odds",
            "finds the strength to lead others toward a better future",
        ],
        quality: 3.9,
    },
    Archetype {
        name: "melancholic",
        genres: &["Drama", "Romance", "War"],
        tags: &[
            "sad",
            "tragic",
            "melancholy",
            "loss",
            "lonely",
            "grief",
            "tearjerker",
            "depressing",
            "heartbreaking",
            "slow",
        ],
        title_words: &[
            "Winter", "Rain", "Lost", "Tears", "Goodbye", "Empty", "Ashes", "Farewell", "Autumn", "Broken",
        ],
        subjects: &[
            "A lonely widower",
            "A dying painter",
            "Two estranged sisters",
            "A broken soldier",
            "A forgotten musician",
        ],
        predicates: &[
            "struggles with grief and loss after a tragic accident",
            "faces loneliness and regret in his final days",
            "mourns a painful past that cannot be undone",
            "endures heartbreak and sorrow in a cold, empty town",
        ],
        quality: 3.6,
    },
];

/// Tone-free tags that any film can get.
pub const NEUTRAL_TAGS: &[&str] = &[
    "based on a book",
    "nyc",
    "twist ending",
    "remake",
    "sequel",
    "black and white",
    "cinematography",
    "soundtrack",
    "directorial debut",
    "british",
    "1980s",
    "visually appealing",
    "dialogue",
    "ensemble cast",
];

/// Tone-free title words.
pub const NEUTRAL_TITLE_WORDS: &[&str] = &[
    "Harbor", "City", "River", "Station", "Letter", "Road", "House", "Island", "Garden", "Bridge", "Stranger",
    "Mountain", "Window", "Return", "Crossing", "Café", "Señor", "Mirror", "Voyage", "Secret",
];

/// How a genre is named in the catalogue's `listed_in`.
pub fn catalog_genre(genre: &str) -> &'static str {
    match genre {
        "Horror" => "Horror Movies",
        "Thriller" | "Mystery" | "Film-Noir" => "Thrillers",
        "Action" | "Adventure" | "War" | "Western" => "Action & Adventure",
        "Sci-Fi" | "Fantasy" => "Sci-Fi & Fantasy",
        "Children" | "Animation" => "Children & Family Movies",
        "Comedy" => "Comedies",
        "Romance" => "Romantic Movies",
        "Documentary" => "Documentaries",
        "Musical" => "Music & Musicals",
        "Crime" => "Crime Movies",
        _ => "Dramas",
    }
}
