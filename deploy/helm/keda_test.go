package helm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

// KEDA's kinds, checked strictly.
//
// KEDA publishes its API types only in its main module (github.com/kedacore/keda/v2), which
// cannot be a dependency here: v2.21 requires Go 1.27, and every version pins its own
// controller-runtime and Kubernetes libraries and brings the modules of its seventy-odd scalers.
// Its CRD schema would check no more than these types do where it matters: a trigger's metadata
// is a free map[string]string there. So the types below copy the fields of KEDA 2.17–2.21's
// apis/keda/v1alpha1 (ScaledObject, TriggerAuthentication) that a ScaledObject of this chart may
// use, and decoding rejects any other field; temporalTrigger then checks the trigger's metadata
// and authentication parameters against the temporal scaler's own parameter list
// (pkg/scalers/temporal_scaler.go), whose names have changed before (queueName became
// taskQueue in 2.17).

type scaledObject struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       scaledObjectSpec  `json:"spec"`
}

type scaledObjectSpec struct {
	ScaleTargetRef        *scaleTarget    `json:"scaleTargetRef"`
	PollingInterval       *int32          `json:"pollingInterval,omitempty"`
	InitialCooldownPeriod *int32          `json:"initialCooldownPeriod,omitempty"`
	CooldownPeriod        *int32          `json:"cooldownPeriod,omitempty"`
	IdleReplicaCount      *int32          `json:"idleReplicaCount,omitempty"`
	MinReplicaCount       *int32          `json:"minReplicaCount,omitempty"`
	MaxReplicaCount       *int32          `json:"maxReplicaCount,omitempty"`
	Advanced              *advancedConfig `json:"advanced,omitempty"`
	Triggers              []scaleTrigger  `json:"triggers"`
	Fallback              *struct {
		FailureThreshold int32  `json:"failureThreshold"`
		Replicas         int32  `json:"replicas"`
		Behavior         string `json:"behavior,omitempty"`
	} `json:"fallback,omitempty"`
}

type scaleTarget struct {
	Name                   string `json:"name"`
	APIVersion             string `json:"apiVersion,omitempty"`
	Kind                   string `json:"kind,omitempty"`
	EnvSourceContainerName string `json:"envSourceContainerName,omitempty"`
}

type advancedConfig struct {
	HorizontalPodAutoscalerConfig *struct {
		Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
		Name     string                                         `json:"name,omitempty"`
	} `json:"horizontalPodAutoscalerConfig,omitempty"`
	RestoreToOriginalReplicaCount bool `json:"restoreToOriginalReplicaCount,omitempty"`
}

type scaleTrigger struct {
	Type              string            `json:"type"`
	Name              string            `json:"name,omitempty"`
	UseCachedMetrics  bool              `json:"useCachedMetrics,omitempty"`
	Metadata          map[string]string `json:"metadata"`
	AuthenticationRef *struct {
		Name string `json:"name"`
		Kind string `json:"kind,omitempty"`
	} `json:"authenticationRef,omitempty"`
	MetricType autoscalingv2.MetricTargetType `json:"metricType,omitempty"`
}

type triggerAuthentication struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		SecretTargetRef []struct {
			Parameter string `json:"parameter"`
			Name      string `json:"name"`
			Key       string `json:"key"`
		} `json:"secretTargetRef,omitempty"`
		Env []struct {
			Parameter     string `json:"parameter"`
			Name          string `json:"name"`
			ContainerName string `json:"containerName,omitempty"`
		} `json:"env,omitempty"`
	} `json:"spec"`
}

// decodeKEDA decodes a keda.sh manifest, rejecting unknown fields at every level.
func decodeKEDA(apiVersion, kind string, manifest []byte) (any, error) {
	if apiVersion != "keda.sh/v1alpha1" {
		return nil, fmt.Errorf("KEDA serves %s at keda.sh/v1alpha1, not %s", kind, apiVersion)
	}
	var v any
	switch kind {
	case "ScaledObject":
		v = &scaledObject{}
	case "TriggerAuthentication":
		v = &triggerAuthentication{}
	default:
		return nil, fmt.Errorf("unexpected KEDA kind %s", kind)
	}
	b, err := sigsyaml.YAMLToJSON(manifest)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	return v, nil
}

// temporalScalerParams are the temporal scaler's trigger metadata, with a check of each value,
// and its authentication parameters (KEDA 2.17–2.21).
var temporalScalerParams = map[string]func(string) error{
	"endpoint": func(v string) error {
		if i := strings.LastIndexByte(v, ':'); i <= 0 || i == len(v)-1 {
			return fmt.Errorf("%q is not host:port", v)
		}
		return nil
	},
	"endpointFromEnv":             notEmpty,
	"namespace":                   notEmpty,
	"taskQueue":                   notEmpty,
	"targetQueueSize":             nonNegativeInt,
	"activationTargetQueueSize":   nonNegativeInt,
	"queueTypes":                  queueTypes,
	"workerDeploymentName":        notEmpty,
	"workerDeploymentBuildId":     notEmpty,
	"includeRunningWorkflowCount": isBool,
	"workflowTaskQueueForCount":   notEmpty,
	"minConnectTimeout":           nonNegativeInt,
	"enableTLS":                   isBool,
	"unsafeSsl":                   isBool,
	"tlsServerName":               notEmpty,
}

var temporalScalerAuthParams = []string{"apiKey", "cert", "key", "keyPassword", "ca"}

func notEmpty(v string) error {
	if v == "" {
		return fmt.Errorf("empty")
	}
	return nil
}

func nonNegativeInt(v string) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a whole number of 0 or more", v)
	}
	return nil
}

func isBool(v string) error {
	_, err := strconv.ParseBool(v)
	return err
}

func queueTypes(v string) error {
	for t := range strings.SplitSeq(v, ",") {
		if !slices.Contains([]string{"workflow", "activity", "nexus"}, t) {
			return fmt.Errorf("%q is not workflow, activity or nexus", t)
		}
	}
	return nil
}

// temporalTrigger checks a temporal trigger as the scaler parses it: required parameters present,
// every parameter known and well-formed, and the TriggerAuthentication's parameters known, with
// cert and key together.
func temporalTrigger(tr scaleTrigger, auth *triggerAuthentication) []error {
	var errs []error
	for _, req := range []string{"endpoint", "taskQueue"} {
		if tr.Metadata[req] == "" {
			errs = append(errs, fmt.Errorf("temporal trigger: %s is required", req))
		}
	}
	for k, v := range tr.Metadata {
		check, ok := temporalScalerParams[k]
		if !ok {
			errs = append(errs, fmt.Errorf("temporal trigger: unknown metadata %q", k))
			continue
		}
		if err := check(v); err != nil {
			errs = append(errs, fmt.Errorf("temporal trigger: %s: %w", k, err))
		}
	}
	if auth != nil {
		params := map[string]bool{}
		for _, r := range auth.Spec.SecretTargetRef {
			if !slices.Contains(temporalScalerAuthParams, r.Parameter) {
				errs = append(errs, fmt.Errorf("TriggerAuthentication: the temporal scaler has no authentication parameter %q", r.Parameter))
			}
			if r.Name == "" || r.Key == "" {
				errs = append(errs, fmt.Errorf("TriggerAuthentication: %s: name and key are required", r.Parameter))
			}
			params[r.Parameter] = true
		}
		if params["cert"] != params["key"] {
			errs = append(errs, fmt.Errorf("TriggerAuthentication: cert and key go together"))
		}
	}
	return errs
}
