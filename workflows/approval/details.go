package approval

import (
	"fmt"
	"strings"
	"time"
)

// Descriptions of the handlers New registers, as the Web UI and `temporal workflow metadata` show
// them next to their names.
const (
	UpdateDecideDescription = "Approve, reject or choose at an open approval gate. " +
		`Input {"gate":"<gate>","approve":true,"identity":"<you>"} (rejecting needs "reason"; a decision gate needs "choice"). ` +
		"Refused without a trace in history when the sender is not an approver, requested the gate, decided already, or the gate is closed. " +
		"lifeboat approve|reject|decide <workflow-id> --gate <gate> sends it; the current details name the approvers and the exact commands."
	SignalDecideDescription = "The decide Update's twin for tools that can only signal, with the same input and rules. " +
		"A refused signal is listed under refused in the approvals query; a decision for a gate not yet open is held until it opens."
	QueryApprovalsDescription = "The approval gates: open ones (approvers, quorum, approvals so far, deadline), closed ones and how they closed, " +
		"every decision, held decisions and refused signals."
)

// TemporalDecideCommand is the stock temporal CLI's command that decides gate of workflowID: it
// approves, or with choice set picks that option. The codec flags let the CLI encrypt the input and
// read the result. verified adds the assertion a deployment that verifies identities requires.
func TemporalDecideCommand(workflowID, gate, choice string, verified bool) string {
	var fields []string
	if gate != "" {
		fields = append(fields, fmt.Sprintf(`"gate":%q`, gate))
	}
	fields = append(fields, `"approve":true`)
	if choice != "" {
		fields = append(fields, fmt.Sprintf(`"choice":%q`, choice))
	}
	if verified {
		fields = append(fields, `"assertion":"<token>"`)
	} else {
		fields = append(fields, `"identity":"<you>"`)
	}
	return fmt.Sprintf(`temporal workflow update execute --workflow-id %s --name %s --input '{%s}' --codec-endpoint <worker>/codec --codec-auth "Bearer <codec token>"`,
		workflowID, UpdateDecide, strings.Join(fields, ","))
}

// Details is Markdown for a workflow's current details that says, for each open gate of
// workflowID, what it waits for, who may answer, how many must, until when and what happens then,
// and the exact commands that answer it. verified says whether decisions must carry a signed
// assertion. It returns "" when no gate is open.
func Details(workflowID string, pending []PendingGate, verified bool) string {
	var b strings.Builder
	for _, g := range pending {
		b.WriteString(fmt.Sprintf("**Waiting for a decision at gate `%s`**: %s\n\n", g.Gate, cell(g.Title)))
		who := "anyone except " + g.Requester + ", who asked"
		if len(g.Approvers) > 0 {
			var others []string
			for _, a := range g.Approvers {
				if a != g.Requester {
					others = append(others, a)
				}
			}
			who = strings.Join(others, ", ")
		}
		b.WriteString(fmt.Sprintf("- May answer: %s\n", cell(who)))
		so := "none yet"
		if len(g.ApprovedBy) > 0 {
			so = strings.Join(g.ApprovedBy, ", ")
		}
		b.WriteString(fmt.Sprintf("- Needs: %d approval(s) (so far: %s); one rejection closes it\n", g.Quorum, cell(so)))
		switch {
		case g.Escalated:
			b.WriteString("- Deadline: passed; escalated, and it waits until someone decides\n")
		case !g.ExpiresAt.IsZero():
			b.WriteString(fmt.Sprintf("- Deadline: %s, then %s\n", g.ExpiresAt.UTC().Format(time.RFC3339), expiryMeaning(g.OnExpiry)))
		default:
			b.WriteString("- Deadline: none; it waits until someone decides\n")
		}
		b.WriteString("\nAnswer with:\n\n")
		if len(g.Options) > 0 {
			b.WriteString(fmt.Sprintf("- `lifeboat decide %s --gate %s --choice <%s>`\n", workflowID, g.Gate, strings.Join(g.Options, "|")))
		} else {
			b.WriteString(fmt.Sprintf("- `lifeboat approve %s --gate %s`\n", workflowID, g.Gate))
		}
		b.WriteString(fmt.Sprintf("- `lifeboat reject %s --gate %s --reason \"…\"`\n", workflowID, g.Gate))
		choice := ""
		if len(g.Options) > 0 {
			choice = "<" + strings.Join(g.Options, "|") + ">"
		}
		b.WriteString("- `" + TemporalDecideCommand(workflowID, g.Gate, choice, verified) + "`\n")
		if verified {
			b.WriteString(fmt.Sprintf("\nDecisions are verified: lifeboat signs them with your key; for the temporal CLI get the assertion with `lifeboat token decide %s --gate %s --approve`.\n", workflowID, g.Gate))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func expiryMeaning(p ExpiryPolicy) string {
	switch p {
	case ExpireProceed:
		return "it proceeds as approved"
	case ExpireEscalate:
		return "it escalates and keeps waiting"
	default:
		return "it gives up, not approved"
	}
}

// cell keeps text on one line so that it cannot break the Markdown around it.
func cell(s string) string {
	return strings.NewReplacer("\n", " ", "\r", " ", "|", "\\|").Replace(s)
}
