package asset

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

const example = `
- name: orders-db
  source:
    postgres: {dsn_secret: orders-primary}
  repository: {location: "s3://backups/orders?region=eu-west-1", password_secret: repo-pass}
  offsite: {location: "gs://dr-backups/orders", key_file_secret: offsite-key}
  schedule: {cron: "0 * * * *"}
  retention: {hourly: 24, daily: 7, weekly: 4}
  rpo: 2h
  verify:
    schedule: {every: 24h}
    checks:
      - {name: orders exist, row_count: {table: orders, min_rows: 1000}}
      - {sql: {query: "SELECT count(*) FROM pg_class", expect: "300"}}
  owners: [team-payments]
  notify: [payments-oncall]
- name: www
  source:
    paths: {include: [/srv/www], exclude: ["*.tmp"]}
  repository: {location: /srv/backups, password_secret: repo-pass}
  schedule: {every: 15m}
  retention: {last: 96}
  rpo: 1h
- name: orders-rds
  source:
    rds: {instance: orders, region: eu-west-1, copy_to_region: eu-central-1}
  schedule: {cron: "@daily"}
  retention: {daily: 14}
  rpo: 26h
`

func parse(t *testing.T, s string) []Asset {
	t.Helper()
	var out []Asset
	dec := yaml.NewDecoder(strings.NewReader(s))
	dec.KnownFields(true)
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestExampleIsValid(t *testing.T) {
	assets := parse(t, example)
	if err := Validate(assets); err != nil {
		t.Fatal(err)
	}
	if got := []string{assets[0].Source.Kind(), assets[1].Source.Kind(), assets[2].Source.Kind()}; strings.Join(got, ",") != "postgres,paths,rds" {
		t.Fatalf("kinds %v", got)
	}
	if got := assets[0].Schedule.Interval(); got != time.Hour {
		t.Fatalf("hourly cron interval = %s", got)
	}
	if p := assets[0].Retention.Policy(); p.Hourly != 24 || p.Weekly != 4 {
		t.Fatalf("policy %+v", p)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	assets := parse(t, `
- name: Orders DB
  source:
    postgres: {dsn_secret: ""}
    paths: {include: [relative/path]}
  schedule: {cron: "61 * * * *"}
  rpo: 0s
- name: dup
  source: {command: {argv: [], name: "../x"}}
  repository: {location: "", password_secret: a, key_file_secret: b}
  offsite: {location: "", password_secret: c}
  schedule: {every: 2h}
  retention: {daily: 7}
  rpo: 1h
  verify:
    schedule: {every: 10s}
    checks:
      - {row_count: {table: t, min_rows: 1}}
      - {file: a, sha256: XYZ}
      - {}
- name: dup
  source: {ebs: {volume_id: disk-1, region: us-east-1, copy_to_region: us-east-1}}
  repository: {location: /x, password_secret: p}
  schedule: {cron: "0 0 * * *", every: 1h}
  retention: {last: -1}
  rpo: 1h
`)
	err := Validate(assets)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`assets[0] (Orders DB).name: "Orders DB"`,
		"assets[0] (Orders DB).source: set exactly one of",
		"source.postgres.dsn_secret: required",
		`"relative/path" is not an absolute path`,
		"assets[0] (Orders DB).repository: required for a",
		`schedule.cron: "61 * * * *"`,
		"assets[0] (Orders DB).rpo: required",
		"retention: retention: policy keeps nothing",
		"source.command.argv: required",
		`source.command.name: "../x" is not a plain file name`,
		"repository: set one of password_secret and key_file_secret",
		"repository.location: required",
		"rpo: 1h0m0s is shorter than the schedule's longest gap (2h0m0s)",
		"verify.schedule.every: 10s is shorter than a minute",
		"verify.checks[0]: database checks need a postgres source",
		"verify.checks[1].sha256: needs file",
		"verify.checks[2]: set exactly one of",
		"assets[2] (dup).name: also the name of assets[1]",
		`source.ebs.volume_id: "disk-1" is not an EBS volume id`,
		"source.ebs.copy_to_region: is the source region",
		"an ebs source is protected by cloud snapshots",
		"schedule: set cron or every, not both",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q", want)
		}
	}
	if t.Failed() {
		t.Log(err)
	}
}

func TestCronInterval(t *testing.T) {
	for cron, want := range map[string]time.Duration{
		"*/15 * * * *": 15 * time.Minute,
		"0 2 * * *":    24 * time.Hour,
		"0 2 * * 1-5":  72 * time.Hour, // Friday night to Monday night
		"@weekly":      7 * 24 * time.Hour,
	} {
		if got := (Schedule{Cron: cron}).Interval(); got != want {
			t.Errorf("%s: interval %s, want %s", cron, got, want)
		}
	}
}

func TestGitSourcesValidate(t *testing.T) {
	base := func(source string) string {
		return `
- name: code
  source: ` + source + `
  repository: {location: /srv/backups, password_secret: repo-pass}
  schedule: {every: 1h}
  retention: {last: 24}
  rpo: 2h
`
	}
	for _, good := range []string{
		`{git: {url: "https://git.example.com/org/app.git", credentials_secret: git-token}}`,
		`{git: {url: "ssh://git@git.example.com/org/app.git", credentials_secret: deploy-key}}`,
		`{git: {url: "git@github.com:org/app.git"}}`,
		`{git: {url: "git://127.0.0.1:9418/app.git"}}`,
		`{git: {url: /srv/git/app.git}}`,
		`{git: {url: "file:///srv/git/app.git"}}`,
		`{ci_config: {url: "https://git.example.com/org/app.git"}}`,
		`{ci_config: {url: /srv/git/app.git, paths: [".github/workflows/**", "deploy/*.yml"], branches: [main, "release/*"]}}`,
	} {
		assets := parse(t, base(good))
		if err := Validate(assets); err != nil {
			t.Errorf("%s: %v", good, err)
		}
	}
	for _, tc := range []struct{ source, want string }{
		{`{git: {url: ""}}`, "source.git.url: required"},
		{`{git: {url: "ftp://example.com/app.git"}}`, `scheme "ftp" is not one of git, http, https, ssh, file`},
		{`{git: {url: "https://user:hunter2@example.com/app.git"}}`, "carries a password: put the credentials in a worker secret"},
		{`{git: {url: "https://deploy@example.com/app.git"}}`, "carries a user name"},
		{`{git: {url: "https://:443/app.git"}}`, "has no host"},
		{`{git: {url: "relative/app.git"}}`, "is neither a URL"},
		{`{git: {url: "ext::sh -c touch% /tmp/x"}}`, "uses a transport helper"},
		{`{git: {url: "--upload-pack=touch /tmp/x"}}`, "starts with '-'"},
		{`{git: {url: /srv/git/app.git, credentials_secret: token}}`, "source.git.credentials_secret: a local URL takes no credentials"},
		{`{git: {url: "git://example.com/app.git", credentials_secret: token}}`, "a git:// URL takes no credentials"},
		{`{ci_config: {url: /srv/git/app.git, paths: ["../etc/passwd"]}}`, "source.ci_config.paths[0]"},
		{`{ci_config: {url: /srv/git/app.git, paths: ["/abs"]}}`, "source.ci_config.paths[0]"},
		{`{ci_config: {url: /srv/git/app.git, branches: ["refs/heads/main"]}}`, "source.ci_config.branches[0]"},
		{`{ci_config: {url: /srv/git/app.git, branches: ["[x"]}}`, "source.ci_config.branches[0]"},
		{`{git: {url: /a}, ci_config: {url: /b}}`, "set exactly one of paths, postgres, command, rds, ebs, git, ci_config"},
	} {
		err := Validate(parse(t, base(tc.source)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.source, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the password: %v", tc.source, err)
		}
	}
	// Unknown fields are refused when the configuration is read.
	var out []Asset
	dec := yaml.NewDecoder(strings.NewReader(base(`{git: {url: /srv/git/app.git, branch: main}}`)))
	dec.KnownFields(true)
	if err := dec.Decode(&out); err == nil || !strings.Contains(err.Error(), "field branch not found") {
		t.Fatalf("unknown field: %v", err)
	}
	refs := parse(t, base(`{ci_config: {url: "https://example.com/a.git", credentials_secret: ci-token}}`))[0].SecretRefs()
	if refs["source.ci_config.credentials_secret"] != "ci-token" {
		t.Fatalf("secret refs %v", refs)
	}
}
