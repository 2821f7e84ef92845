package aws

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/route53"
)

// DefaultMaxAttempts is the number of attempts per request when Config.MaxAttempts is zero.
const DefaultMaxAttempts = 5

// Config says how to reach AWS. Regions are not part of it: every call names its own.
type Config struct {
	// Endpoint, when set, is the base URL of every service in every region
	// ("http://127.0.0.1:4566"); tests point it at a fake. Empty: AWS's regional endpoints.
	Endpoint string
	// AccessKeyID, SecretAccessKey and SessionToken are static credentials. When AccessKeyID is
	// empty the SDK's default credential chain is used (environment, shared files, SSO, web
	// identity, ECS and EC2 roles).
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// Profile selects a profile from the shared configuration files for the default chain.
	Profile string
	// MaxAttempts is the number of attempts per request, with exponential backoff and jitter
	// between them; throttling and server errors are retried. Zero means DefaultMaxAttempts; 1
	// turns the SDK's retries off for callers that retry on their own.
	MaxAttempts int
}

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("endpoint %q is not an http:// or https:// URL", c.Endpoint))
		}
	}
	if c.AccessKeyID != "" && c.SecretAccessKey == "" {
		errs = append(errs, errors.New("access key ID given without a secret access key"))
	}
	if c.AccessKeyID == "" && (c.SecretAccessKey != "" || c.SessionToken != "") {
		errs = append(errs, errors.New("secret access key or session token given without an access key ID"))
	}
	if c.AccessKeyID != "" && c.Profile != "" {
		errs = append(errs, fmt.Errorf("profile %q given with static credentials; use one or the other", c.Profile))
	}
	if c.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("max attempts %d is negative", c.MaxAttempts))
	}
	return errors.Join(errs...)
}

// rdsAPI is the part of the RDS client Snapshots uses.
type rdsAPI interface {
	CreateDBSnapshot(context.Context, *rds.CreateDBSnapshotInput, ...func(*rds.Options)) (*rds.CreateDBSnapshotOutput, error)
	CopyDBSnapshot(context.Context, *rds.CopyDBSnapshotInput, ...func(*rds.Options)) (*rds.CopyDBSnapshotOutput, error)
	DeleteDBSnapshot(context.Context, *rds.DeleteDBSnapshotInput, ...func(*rds.Options)) (*rds.DeleteDBSnapshotOutput, error)
	rds.DescribeDBSnapshotsAPIClient
}

// ec2API is the part of the EC2 client Snapshots uses.
type ec2API interface {
	CreateSnapshot(context.Context, *ec2.CreateSnapshotInput, ...func(*ec2.Options)) (*ec2.CreateSnapshotOutput, error)
	CopySnapshot(context.Context, *ec2.CopySnapshotInput, ...func(*ec2.Options)) (*ec2.CopySnapshotOutput, error)
	DeleteSnapshot(context.Context, *ec2.DeleteSnapshotInput, ...func(*ec2.Options)) (*ec2.DeleteSnapshotOutput, error)
	ec2.DescribeSnapshotsAPIClient
}

var (
	_ rdsAPI = (*rds.Client)(nil)
	_ ec2API = (*ec2.Client)(nil)
)

// Snapshots takes and manages RDS and EBS snapshots in any region. It keeps one client per
// service and region, and is safe for concurrent use.
type Snapshots struct {
	newRDS func(region string) rdsAPI
	newEC2 func(region string) ec2API
	// Failover's clients (failover.go); Route 53 is kept under its one region.
	newFailoverRDS func(region string) failoverRDSAPI
	newFailoverEC2 func(region string) failoverEC2API
	newAutoScaling func(region string) autoScalingAPI
	newRoute53     func(region string) route53API

	mu         sync.Mutex
	rdsClients map[string]rdsAPI
	ec2Clients map[string]ec2API
	// Failover's clients.
	failoverRDSClients map[string]failoverRDSAPI
	failoverEC2Clients map[string]failoverEC2API
	autoScalingClients map[string]autoScalingAPI
	route53Clients     map[string]route53API
}

// New checks cfg and loads the AWS configuration (credentials, profile). It does not contact
// AWS: bad credentials show on the first call.
func New(ctx context.Context, cfg Config) (*Snapshots, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("aws: %w", err)
	}
	attempts := cfg.MaxAttempts
	if attempts == 0 {
		attempts = DefaultMaxAttempts
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = attempts })
		}),
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)))
	}
	if cfg.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(cfg.Profile))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("aws: load AWS configuration: %w", err)
	}
	var endpoint *string
	if cfg.Endpoint != "" {
		endpoint = aws.String(cfg.Endpoint)
	}
	return &Snapshots{
		newRDS: func(region string) rdsAPI {
			return rds.NewFromConfig(awsCfg, func(o *rds.Options) {
				o.Region = region
				o.BaseEndpoint = endpoint
			})
		},
		newEC2: func(region string) ec2API {
			return ec2.NewFromConfig(awsCfg, func(o *ec2.Options) {
				o.Region = region
				o.BaseEndpoint = endpoint
			})
		},
		newFailoverRDS: func(region string) failoverRDSAPI {
			return rds.NewFromConfig(awsCfg, func(o *rds.Options) {
				o.Region = region
				o.BaseEndpoint = endpoint
			})
		},
		newFailoverEC2: func(region string) failoverEC2API {
			return ec2.NewFromConfig(awsCfg, func(o *ec2.Options) {
				o.Region = region
				o.BaseEndpoint = endpoint
			})
		},
		newAutoScaling: func(region string) autoScalingAPI {
			return autoscaling.NewFromConfig(awsCfg, func(o *autoscaling.Options) {
				o.Region = region
				o.BaseEndpoint = endpoint
			})
		},
		newRoute53: func(region string) route53API {
			return route53.NewFromConfig(awsCfg, func(o *route53.Options) {
				o.Region = region
				o.BaseEndpoint = endpoint
			})
		},
	}, nil
}

// regionName is the shape of a region name ("us-east-1", "eu-central-2", "us-gov-west-1").
var regionName = regexp.MustCompile(`^[a-z]{2}(-[a-z0-9]+)+$`)

func checkRegion(region string) error {
	if !regionName.MatchString(region) {
		return fmt.Errorf("region %q is not a region name: %w", region, ErrInvalid)
	}
	return nil
}

// rds returns the RDS client for a region.
func (s *Snapshots) rds(region string) (rdsAPI, error) {
	if err := checkRegion(region); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.rdsClients[region]
	if !ok {
		if s.rdsClients == nil {
			s.rdsClients = map[string]rdsAPI{}
		}
		c = s.newRDS(region)
		s.rdsClients[region] = c
	}
	return c, nil
}

// ec2 returns the EC2 client for a region.
func (s *Snapshots) ec2(region string) (ec2API, error) {
	if err := checkRegion(region); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.ec2Clients[region]
	if !ok {
		if s.ec2Clients == nil {
			s.ec2Clients = map[string]ec2API{}
		}
		c = s.newEC2(region)
		s.ec2Clients[region] = c
	}
	return c, nil
}
