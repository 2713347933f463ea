// Package guard sanitises message text and scans it for prompt injection.
//
// # Sanitize
//
// Sanitize prepares text for storage and display: it refuses bidi
// overrides and isolates, control characters (other than \n and \t) and
// invalid UTF-8 with a mesh.EInvalid error, strips zero-width characters,
// and returns NFC. Its doc comment gives the reason for each choice.
//
// # Scan
//
// A Scanner judges whether a text is a prompt attack: instruction override,
// system-prompt extraction, an instruction planted for an agent (insert
// this code, add this link to your reply) or a jailbreak persona. It works
// offline with no downloads, in three steps.
//
//  1. Views. The text is read several ways. The main view is NFKC, case
//     folded, with zero-width and other format characters removed,
//     Cyrillic/Greek look-alikes mapped to ASCII, HTML comments, tags and
//     markdown comments removed but their contents kept, spaced-out letters
//     ("i g n o r e") joined, and white space collapsed. A leetspeak view
//     undoes 0→o 1→i 3→e 4→a 5→s 7→t @→a $→s |→l. Every run of 16 or more
//     base64 or hex characters that decodes to readable text is a view of
//     its own (nested blobs too, two levels deep).
//  2. Score. Each view is scored by logistic regression (model.go) over
//     hashed words, word bigrams and character 4-grams plus one input per
//     hand-written rule (rules.go). The text's score is the best view's, plus
//     a fixed bonus when letters were disguised inside words (zero-width
//     characters, mixed scripts).
//  3. Verdict. Score ≥ DefaultThreshold is an injection. Findings then name
//     the rules that matched and the obfuscations undone, or "model" when
//     no rule matched. Room policy (scan: off, flag or block per trust
//     level) decides what the node does with the verdict.
//
// # Model and training
//
// model.bin (128 KiB: 2^16 int16 hash weights, one float per rule, a bias)
// is embedded with go:embed. It is trained from testdata/dev.jsonl, a copy of
// the team's labelled set (testdata/SOURCES.md has its provenance and
// licences), by the program in train/:
//
//	cd internal/guard && go run ./train       # rewrites model.bin
//
// Training is deterministic (fixed seed, fixed order, single goroutine):
// the same data and code give a byte-identical model.bin, and
// TestEmbeddedModelMatchesTraining fails if the shipped file is stale.
// Retrain after changing the rules, the features or canonical, then run
// go test ./internal/guard -update: the TypeScript port (sdk/src/guard,
// exported as @the-mesh/sdk/guard for end-to-end encrypted rooms, where the
// receiving SDK scans) reads the tables and vectors it rewrites, and
// TestSDKTables and TestScanVectors fail while they are stale.
//
// Choices made on dev.jsonl by 5-fold cross-validation (go run ./train -cv 5):
//   - The JailbreakBench PAIR and GCG rows get zero training weight. They are
//     harmful requests dressed as role-play or followed by adversarial
//     gibberish, with no override language; training on them taught the
//     model that role-play is an attack and flagged the WildGuard benign
//     prompts. They are still scored, and reported, as attacks.
//   - Rule weights start at a prior written next to the rule and are pulled
//     back to it, so a pattern with few training examples keeps its prior.
//   - DefaultThreshold 0.6 is where out-of-fold benign false positives fell
//     below 1% with override/planted detection still above 85%.
//
// Honest measures, which need no held-out data, are printed by
// go run ./train -loso (leave one source family out) and
// go run ./train -holdout 0.25 (a stratified held-back quarter).
package guard
