package governance

import (
	"fmt"
	"slices"
	"strings"

	"github.com/the-mesh/mesh"
)

// Check returns nil if s holds c in r, or else an EForbidden error whose
// message names c and why s lacks it, e.g. `You lack "speak" in this room:
// it is revoked for you.` It allocates only when it refuses.
func Check(s Subject, c mesh.Capability, r Room) error {
	if Can(s, c, r) {
		return nil
	}
	return mesh.Errorf(mesh.EForbidden, "You lack %q in this room: %s.", c, why(s, c, r, true))
}

// MayCommand returns nil if sender may send a command to target in r: the
// sender's (clamped) trust is in Policy.Execute.From, the sender holds
// speak, and the target holds execute. Otherwise it returns an EForbidden
// error that says which of the three failed, checked in that order.
func MayCommand(sender, target Subject, r Room) error {
	p := r.policy()
	if t := sender.effective(0); t.Rank() < 0 || !slices.Contains(p.Execute.From, t) {
		return mesh.Errorf(mesh.EForbidden, "Your trust %s may not trigger commands in this room: execute.from allows %s.",
			trustPhrase(sender), trustList(p.Execute.From))
	}
	if !Can(sender, mesh.CapSpeak, r) {
		return mesh.Errorf(mesh.EForbidden, "You lack %q in this room, so you cannot send commands: %s.",
			mesh.CapSpeak, why(sender, mesh.CapSpeak, r, true))
	}
	if !Can(target, mesh.CapExecute, r) {
		return mesh.Errorf(mesh.EForbidden, "%s lacks %q in this room, so it cannot receive commands: %s.",
			target.ID, mesh.CapExecute, why(target, mesh.CapExecute, r, false))
	}
	return nil
}

// MayWriteData returns nil if s may write r's shared files: s holds
// data-write and its (clamped) trust is in Policy.Data.Ingress. Otherwise
// it returns an EForbidden error that says which failed.
func MayWriteData(s Subject, r Room) error {
	if err := Check(s, mesh.CapDataWrite, r); err != nil {
		return err
	}
	p := r.policy()
	if t := s.effective(0); !slices.Contains(p.Data.Ingress, t) {
		return mesh.Errorf(mesh.EForbidden, "Your trust %s may not write this room's data: data.ingress allows %s.",
			trustPhrase(s), trustList(p.Data.Ingress))
	}
	return nil
}

// MayReadData returns nil if s holds data-read in r, or else an EForbidden
// error saying why not.
func MayReadData(s Subject, r Room) error {
	return Check(s, mesh.CapDataRead, r)
}

// why explains why s lacks c in r, which it must. self says whether s is
// the one reading the message ("you") or a third party named by its id.
// It names the lowest level of s's chain whose own holdings lack c.
func why(s Subject, c mesh.Capability, r Room, self bool) string {
	if bit(c) == 0 {
		return "there is no such capability"
	}
	p := r.policy()
	owns := r.creatorLevel(s)
	for i := 0; i <= len(s.Ancestors); i++ {
		id, own := s.level(i)
		eff := s.effective(i)
		if eff.Rank() < 0 && own.Rank() >= 0 {
			continue // the unknown trust is an ancestor's: name that one
		}
		if r.base(p, id, eff, owns >= 0 && i >= owns).Has(c) {
			continue
		}
		you, your := string(id), "its"
		if self && i == 0 {
			you, your = "you", "your"
		}
		var cause string
		switch {
		case eff.Rank() < 0:
			cause = fmt.Sprintf("trust %q is unknown and holds nothing", own)
		case SetOf(p.Revokes[id]...).Has(c):
			cause = "it is revoked for " + you
		case eff != own:
			cause = fmt.Sprintf("trust %s does not grant it (%s trust %s is clamped to %s parent's)", eff, your, own, your)
		default:
			cause = fmt.Sprintf("trust %s does not grant it", eff)
		}
		if i == 0 {
			return cause
		}
		possessive := "its"
		if self {
			possessive = "your"
		}
		parent, _ := s.level(1)
		if i == 1 {
			return fmt.Sprintf("%s parent %s lacks it (%s)", possessive, parent, cause)
		}
		return fmt.Sprintf("%s parent %s lacks it, as its ancestor %s does (%s)", possessive, parent, id, cause)
	}
	return "it is not granted" // unreachable while Capabilities and why agree
}

// trustPhrase names s's clamped trust, saying so when it was clamped.
func trustPhrase(s Subject) string {
	if eff := s.effective(0); eff != s.Trust {
		return fmt.Sprintf("%s (%s, clamped to your parent's)", eff, s.Trust)
	}
	return string(s.Trust)
}

// trustList renders a policy's list of trust levels for a message.
func trustList(ts []mesh.Trust) string {
	if len(ts) == 0 {
		return "none"
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}
