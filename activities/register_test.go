package activities

import (
	"reflect"
	"slices"
	"testing"

	"go.temporal.io/sdk/activity"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
)

// registry records what is registered on it.
type registry struct{ methods []string }

func (r *registry) RegisterActivity(a any) {
	t := reflect.TypeOf(a)
	for i := range t.NumMethod() {
		r.methods = append(r.methods, t.Method(i).Name)
	}
}
func (r *registry) RegisterActivityWithOptions(a any, _ activity.RegisterOptions) {
	r.RegisterActivity(a)
}
func (r *registry) RegisterDynamicActivity(any, activity.DynamicRegisterOptions) {}

// Register registers every struct of the set, so that a struct added to Set cannot be left out of
// the worker; and nothing of a nil one.
func TestSetRegistersEveryStruct(t *testing.T) {
	var full Set
	v := reflect.ValueOf(&full).Elem()
	var want []string
	for i := range v.NumField() {
		f := v.Field(i)
		f.Set(reflect.New(f.Type().Elem()))
		for j := range f.Type().NumMethod() {
			want = append(want, f.Type().Method(j).Name)
		}
	}
	var r registry
	full.Register(&r)
	slices.Sort(want)
	slices.Sort(r.methods)
	if !slices.Equal(r.methods, want) {
		t.Errorf("registered %v, want %v", r.methods, want)
	}
	if !slices.Contains(r.methods, contract.AppendAudit) {
		t.Errorf("%s is not registered: %v", contract.AppendAudit, r.methods)
	}

	// Every worker answers LoadIdentity, AppendAudit, LoadAlertRule, WriteEvidence,
	// LoadDrillSchedules and LoadRun, whether or not its set names them.
	var none registry
	Set{}.Register(&none)
	slices.Sort(none.methods)
	want = []string{contract.AppendAudit, contract.LoadAlertRule, contract.LoadDrillSchedules, contract.LoadIdentity, contract.LoadRun, contract.WriteEvidence}
	if !slices.Equal(none.methods, want) {
		t.Errorf("an empty set registered %v, want %v", none.methods, want)
	}
}
