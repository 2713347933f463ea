package guard

import "strings"

// A rule is a hand-written pattern over the words of a canonical view: a
// sequence of slots, each a set of words, where at most gap other words may
// sit between two matched slots. Every rule is one input of the model, whose
// trained weight says how much a match counts; Finding names the rule in
// Result.Findings. Training starts each rule's weight at its prior and
// pulls it back there, so a rule too rare in the data keeps the weight its
// author gave it.
type rule struct {
	finding string
	prior   float64 // the weight before training, and what L2 pulls it back to
	gap     int
	slots   []string // each slot: words separated by spaces
}

// Findings named by rules. They are part of the API: never rename one.
const (
	FindingOverride   = "override-instructions"
	FindingExtraction = "system-prompt-extraction"
	FindingPlanted    = "planted-instruction"
	FindingCode       = "dangerous-code"
	FindingPersona    = "jailbreak-persona"
)

// rules is the rule set. The model file stores one weight per rule, in this
// order: append new rules at the end and retrain (see doc.go).
var rules = []rule{
	// Overriding the instructions the model was given.
	{FindingOverride, 4, 3, []string{
		"ignore ignoring disregard disregarding forget forgetting skip override bypass neglect dismiss discard abandon drop",
		"previous prior above earlier preceding initial original all any your those these existing old system",
		"instructions instruction directions directives rules guidelines prompt prompts commands orders programming constraints restrictions guidance context",
	}},
	{FindingOverride, 3, 2, []string{"forget disregard ignore", "everything all", "before above previously learned told said know"}},
	{FindingOverride, 1, 0, []string{"new updated", "instructions instruction directive directives task"}},
	{FindingOverride, 1.5, 1, []string{"stop", "everything"}},
	{FindingOverride, 1, 2, []string{"not dont don", "follow obey", "your the any", "rules instructions guidelines policies policy programming"}},
	{FindingOverride, 1, 1, []string{"instead", "print say output write"}},
	{FindingOverride, 2, 0, []string{"admin administrator developer root sudo system", "override"}},

	// Extracting the system prompt.
	{FindingExtraction, 3, 1, []string{"your", "system initial original hidden secret internal first starting previous full entire", "prompt prompts instructions instruction message configuration"}},
	{FindingExtraction, 3, 4, []string{"repeat print output show reveal display tell write spell list echo dump leak encode translate", "previous above preceding prior initial original earlier", "instructions prompt text words message"}},
	{FindingExtraction, 2.5, 3, []string{"repeat output print display show echo copy", "above"}},
	{FindingExtraction, 1.5, 3, []string{"what", "you", "told instructed programmed"}},
	{FindingExtraction, 2.5, 0, []string{"not", "supposed allowed", "to", "tell reveal say share"}},
	{FindingExtraction, 1, 1, []string{"your", "instructions rules guidelines"}},
	{FindingExtraction, 2.5, 0, []string{"systemprompt sysprompt"}},
	{FindingExtraction, 1.5, 1, []string{"i", "was were", "instructed told"}},
	{FindingExtraction, 1.5, 2, []string{"display show print output reveal", "system", "configuration config settings prompt"}},

	// Instructions planted for an agent that reads the text.
	{FindingPlanted, 3, 4, []string{
		"include including insert append add integrate incorporate incorporating embed embedding meld merge execute run inject put place implement weave blend attach utilize make leverage leveraging",
		"following below this given subsequent attached provided next",
		"code snippet block script function lines excerpt section segment fragment piece",
	}},
	{FindingPlanted, 0, 0, []string{"to into in within", "your", "code codebase implementation solution answer response reply output program script project summary algorithm logic"}},
	{FindingPlanted, 2, 2, []string{"enhance improve enrich end conclude begin start modify alter", "your", "response answer reply"}},
	{FindingPlanted, 1, 3, []string{"mention promote recommend suggest advertise tease encourage urge", "users readers"}},
	{FindingPlanted, 0, 1, []string{"www", "com xyz net org"}},

	// Code that damages or exfiltrates.
	{FindingCode, 1, 0, []string{"rm", "rf fr"}},
	{FindingCode, 1, 0, []string{"dev", "sda sdb hda nvme0n1"}},
	{FindingCode, 0.5, 6, []string{"curl wget", "sh bash"}},
	{FindingCode, 0.5, 0, []string{"requests", "post"}},
	{FindingCode, 0.5, 0, []string{"subprocess os", "call popen system run remove"}},
	{FindingCode, 0.5, 0, []string{"keylogger pynput ransomware ransom exfiltrate exfiltration psutil"}},
	{FindingCode, 0.5, 2, []string{"os", "environ getenv"}},

	// Jailbreak personas.
	{FindingPersona, 2, 0, []string{"do", "anything", "now"}},
	{FindingPersona, 1, 0, []string{"developer dev", "mode"}},
	{FindingPersona, 0, 0, []string{"jailbreak jailbroken jailbreaking"}},
	{FindingPersona, 1.5, 1, []string{"stay remain", "in", "character"}},
	{FindingPersona, 1.5, 2, []string{"no without any", "ethical moral", "guidelines restrictions boundaries limits principles constraints filters"}},
	{FindingPersona, 0.5, 0, []string{"unfiltered uncensored amoral unrestricted unethical immoral"}},
	{FindingPersona, 0.5, 0, []string{"from", "now", "on"}},
	{FindingPersona, 0, 2, []string{"act pretend roleplay simulate", "as be like"}},
	{FindingPersona, 1, 3, []string{"openai chatgpt", "policy policies content guidelines rules"}},
	{FindingPersona, 1, 2, []string{"never", "refuse decline"}},
	{FindingPersona, 1, 0, []string{"you", "are", "now"}},
}

// ruleSet is rules compiled for matching: every distinct word maps to the
// set of (rule, slot) pairs it can fill, as a bit set.
type ruleSet struct {
	words map[string]slotBits
	first []int // first[r] is the bit of rule r's first slot
}

const maxSlots = 256

type slotBits [maxSlots / 64]uint64

func (b *slotBits) has(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }

func compileRules(rs []rule) *ruleSet {
	set := &ruleSet{words: map[string]slotBits{}}
	bit := 0
	for _, r := range rs {
		set.first = append(set.first, bit)
		for _, slot := range r.slots {
			if bit >= maxSlots {
				panic("guard: too many rule slots")
			}
			for _, w := range strings.Fields(slot) {
				b := set.words[w]
				b[bit/64] |= 1 << (bit % 64)
				set.words[w] = b
			}
			bit++
		}
	}
	return set
}

// match sets hits[r] for every rule r that matches words, given each word's
// slot bits.
func (set *ruleSet) match(bits []slotBits, hits []bool) {
	var any slotBits
	for i := range bits {
		for k := range any {
			any[k] |= bits[i][k]
		}
	}
	for r, rl := range rules {
		first := set.first[r]
		if !any.has(first) {
			continue
		}
		for i := range bits {
			if bits[i].has(first) && matchFrom(bits, i+1, first+1, len(rl.slots)-1, rl.gap) {
				hits[r] = true
				break
			}
		}
	}
}

// matchFrom reports whether the remaining n slots, starting at bit, can be
// filled in order from word pos on with at most gap words between slots.
func matchFrom(bits []slotBits, pos, bit, n, gap int) bool {
	if n == 0 {
		return true
	}
	for j := pos; j < len(bits) && j <= pos+gap; j++ {
		if bits[j].has(bit) && matchFrom(bits, j+1, bit+1, n-1, gap) {
			return true
		}
	}
	return false
}
