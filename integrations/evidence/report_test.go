package evidence_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/evidence"
)

// The report maps records to every control, names the gaps, and both formats show the same
// controls; text from records is escaped in HTML.
func TestReportMapsRecordsToControlsAndNamesGaps(t *testing.T) {
	from := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	passed := drill("orders", "r1", from.Add(24*time.Hour))
	unproven := drill("<script>billing</script>", "r2", from.Add(48*time.Hour))
	unproven.Checks = append(unproven.Checks, evidence.Check{Name: "dns", Result: evidence.CheckNotProven})
	unproven.Evaluate()
	records := []evidence.Verified{{Listed: evidence.Listed{ID: evidence.ID(passed)}, Record: passed}, {Listed: evidence.Listed{ID: evidence.ID(unproven)}, Record: unproven}}
	r := evidence.NewReport("/srv/evidence", from, from.Add(90*24*time.Hour), from.Add(90*24*time.Hour), records,
		[]evidence.Problem{{ID: "20261003T000000Z_drill_orders_r3", Error: "signature does not match the payload"}})
	if len(r.Controls) != len(evidence.Controls) {
		t.Fatalf("%d controls reported, %d declared", len(r.Controls), len(evidence.Controls))
	}
	gaps := map[string]string{}
	for _, c := range r.Controls {
		gaps[c.Framework+" "+c.ID] = strings.Join(c.Gaps, "; ")
	}
	for control, want := range map[string]string{
		"SOC 2 A1.2":            "no verification in the period",
		"SOC 2 A1.3":            "of <script>billing</script>: not proven (1 of 2 checks not proven",
		"DORA Article 11":       "1 records of the period do not verify",
		"ISO 22301 8.6":         "no verification in the period",
		"ISO 27001:2022 A.5.30": "no verification in the period",
	} {
		if !strings.Contains(gaps[control], want) {
			t.Errorf("%s gaps %q, want %q", control, gaps[control], want)
		}
	}
	if strings.Contains(gaps["SOC 2 A1.3"], "no drill") {
		t.Errorf("a passed drill is counted as none: %s", gaps["SOC 2 A1.3"])
	}
	var md, html bytes.Buffer
	if err := evidence.WriteReport(&md, r, evidence.FormatMarkdown); err != nil {
		t.Fatal(err)
	}
	if err := evidence.WriteReport(&html, r, evidence.FormatHTML); err != nil {
		t.Fatal(err)
	}
	for _, c := range evidence.Controls {
		if !strings.Contains(md.String(), "## "+c.Framework+" "+c.ID+": "+c.Title) || !strings.Contains(html.String(), "<h2>"+c.Framework+" "+c.ID+": "+c.Title+"</h2>") {
			t.Errorf("a format leaves out %s %s", c.Framework, c.ID)
		}
	}
	if strings.Contains(html.String(), "<script>") || strings.Contains(md.String(), "<script>") {
		t.Error("record text is not escaped")
	}
	if err := evidence.WriteReport(&md, r, "pdf"); err == nil {
		t.Error("an unknown format was written")
	}
}
