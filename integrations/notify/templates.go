package notify

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"path"
	"slices"
	"strings"
	texttemplate "text/template"
	"unicode/utf8"
)

// Template names a rendering of a message for a channel that shows text it lays out itself.
type Template string

// The renderings.
const (
	// TemplateSMS is one SMS, at most MaxSMSLength characters, link included when it fits, cut with
	// "..." rather than "…", which is not in the GSM alphabet.
	TemplateSMS Template = "sms"
	// TemplateVoice is what a voice call says, at most MaxVoiceLength characters.
	TemplateVoice Template = "voice"
	// TemplateSubject is an email subject, on one line.
	TemplateSubject Template = "subject"
	// TemplateText is an email body in plain text.
	TemplateText Template = "text"
	// TemplateHTML is an email body in HTML, every value of the message escaped.
	TemplateHTML Template = "html"
)

// Templates lists every rendering, in the order of the constants.
var Templates = []Template{TemplateSMS, TemplateVoice, TemplateSubject, TemplateText, TemplateHTML}

// Length limits of the renderings, in characters.
const (
	// MaxSMSLength keeps an SMS to two segments of GSM-7 text (the templates keep to its alphabet),
	// which every carrier joins into one message.
	MaxSMSLength = 320
	// MaxVoiceLength keeps a call under a minute of speech.
	MaxVoiceLength = 600
	// maxSubjectLength keeps a subject readable in a mail client's list.
	maxSubjectLength = 200
	// maxSMSLink is the longest link an SMS carries; a longer one would crowd out the text.
	maxSMSLink = 160
)

//go:embed templates/*.tmpl
var templateFiles embed.FS

// The event templates, parsed once: each event's text templates are default.tmpl with the blocks of
// <event>.tmpl redefined; the HTML layout is the same for every event, with the event's "lead".
var (
	textTemplates = map[string]*texttemplate.Template{}
	htmlTemplate  *htmltemplate.Template
)

var templateFuncs = map[string]any{
	"upper":      strings.ToUpper,
	"join":       strings.Join,
	"trimPrefix": strings.TrimPrefix,
}

func init() {
	base := texttemplate.Must(texttemplate.New("default.tmpl").Funcs(templateFuncs).ParseFS(templateFiles, "templates/default.tmpl"))
	textTemplates[""] = base
	names, err := fs.Glob(templateFiles, "templates/*.tmpl")
	if err != nil {
		panic(err)
	}
	for _, name := range names {
		file := path.Base(name)
		if file == "default.tmpl" || file == "email.html.tmpl" {
			continue
		}
		t := texttemplate.Must(base.Clone())
		texttemplate.Must(t.ParseFS(templateFiles, name))
		textTemplates[strings.TrimSuffix(file, ".tmpl")] = t
	}
	htmlFuncs := map[string]any{"upper": strings.ToUpper, "color": severityColor}
	htmlTemplate = htmltemplate.Must(htmltemplate.New("email.html.tmpl").Funcs(htmlFuncs).ParseFS(templateFiles, "templates/email.html.tmpl"))
}

// eventAliases are events worded with another event's templates: the escalations of a gate, of a
// stuck step and of a missed RTO, and the progress updates of a long recovery.
var eventAliases = map[string]string{
	"approval.escalated": "escalation",
	"step.stuck":         "escalation",
	"plan.rto_missed":    "rto.missed",
	"recovery.progress":  "recovery.phase",
}

// TemplateEvents returns the events that have their own templates, sorted. Any other event is
// rendered with the default templates.
func TemplateEvents() []string {
	var events []string
	for e := range textTemplates {
		if e != "" {
			events = append(events, e)
		}
	}
	slices.Sort(events)
	return events
}

// templateData is what the templates see of a message.
type templateData struct {
	Event    string
	Severity string
	Asset    string
	Plan     string
	Title    string
	Text     string
	Fields   []templateField
	// Link is the message's link when it is an absolute http(s) URL, and empty otherwise: a channel
	// shows no link it cannot open safely.
	Link     string
	DedupKey string
	Level    int
	Approval *ApprovalRef
	// When is the message's time in UTC, to the second: "2026-03-14 09:26:53 UTC".
	When string
	// Lead is the event's own explanation of what happened and what to do, rendered from the "lead"
	// template; the HTML layout shows it.
	Lead string
}

type templateField struct{ Key, Value string }

func newTemplateData(m Message) templateData {
	d := templateData{
		Event: m.Event, Severity: string(m.Severity), Asset: m.Asset, Plan: m.Plan, Title: m.Title, Text: m.Text,
		DedupKey: m.DedupKey, Level: m.Level, Approval: m.Approval,
	}
	if _, err := ParseHTTPURL(m.Link); err == nil {
		d.Link = m.Link
	}
	for _, k := range m.FieldKeys() {
		d.Fields = append(d.Fields, templateField{k, m.Fields[k]})
	}
	if !m.Time.IsZero() {
		d.When = m.Time.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	return d
}

// Render renders m for a channel with the templates of m's event, or the default ones. Every
// rendering but TemplateText and TemplateHTML is one line with runs of spaces collapsed, cut to its
// length limit with "…".
func Render(t Template, m Message) (string, error) {
	tmpl, ok := textTemplates[m.Event]
	if alias, aliased := eventAliases[m.Event]; !ok && aliased {
		tmpl, ok = textTemplates[alias]
	}
	if !ok {
		tmpl = textTemplates[""]
	}
	d := newTemplateData(m)
	exec := func(name string) (string, error) {
		var buf bytes.Buffer
		if err := tmpl.ExecuteTemplate(&buf, name, d); err != nil {
			return "", fmt.Errorf("render %s of %s: %w", name, m.Event, err)
		}
		return buf.String(), nil
	}
	switch t {
	case TemplateSMS:
		s, err := exec("sms")
		if err != nil {
			return "", err
		}
		return fitSMS(OneLine(s), d.Link), nil
	case TemplateVoice, TemplateSubject:
		s, err := exec(string(t))
		if err != nil {
			return "", err
		}
		limit := MaxVoiceLength
		if t == TemplateSubject {
			limit = maxSubjectLength
		}
		return Cut(OneLine(s), limit), nil
	case TemplateText, TemplateHTML:
		lead, err := exec("lead")
		if err != nil {
			return "", err
		}
		d.Lead = OneLine(lead)
		if t == TemplateText {
			return exec("text")
		}
		var buf bytes.Buffer
		if err := htmlTemplate.ExecuteTemplate(&buf, "html", d); err != nil {
			return "", fmt.Errorf("render html of %s: %w", m.Event, err)
		}
		return buf.String(), nil
	}
	return "", fmt.Errorf("render: no template %q (templates: %s)", t, strings.Join(templateNames(), ", "))
}

func templateNames() []string {
	names := make([]string, len(Templates))
	for i, t := range Templates {
		names[i] = string(t)
	}
	return names
}

// fitSMS appends the link to an SMS when the link is short enough, cutting the text so that both fit
// in MaxSMSLength.
func fitSMS(text, link string) string {
	if link == "" || utf8.RuneCountInString(link) > maxSMSLink {
		return cutWith(text, MaxSMSLength, "...")
	}
	return cutWith(text, MaxSMSLength-1-utf8.RuneCountInString(link), "...") + " " + link
}

// OneLine collapses every run of white space, line breaks included, into one space: for a header, a
// subject or a summary that must stay on one line.
func OneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Cut returns s when it has at most n characters, or as many of its first as fit with "…" after
// them: for a field a channel limits in length.
func Cut(s string, n int) string { return cutWith(s, n, "…") }

// cutWith returns s when it has at most n characters, or as many of its first as fit with mark after
// them.
func cutWith(s string, n int, mark string) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimRight(string(r[:n-utf8.RuneCountInString(mark)]), " ") + mark
}

// severityColor is the HTML email's accent color for a severity.
func severityColor(s string) string {
	switch Severity(s) {
	case Info:
		return "#1f6feb"
	case Warning:
		return "#bf8700"
	default:
		return "#cf222e"
	}
}
