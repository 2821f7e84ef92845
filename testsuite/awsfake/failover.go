package awsfake

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// failoverState is the fake's state for the failover APIs: Route 53 (route53.go), Auto Scaling
// (autoscaling.go), DB instance promotion, Aurora global databases and EC2 instances (here).
// f.mu guards it.
type failoverState struct {
	settleAfter int
	zones       map[string]*hostedZone    // Route 53 is global: by zone id
	changes     map[string]*rrChange      // by change id, without "/change/"
	globals     map[string]*globalCluster // global databases are global: by lower-case id
	regions     map[string]*failoverRegion
}

// failoverRegion is the failover state of one region.
type failoverRegion struct {
	dbInstances  map[string]*dbInstance   // by lower-case identifier
	ec2Instances map[string]*ec2Instance  // by instance id
	groups       map[string]*scalingGroup // by group name
}

// fo returns the failover state, creating it. f.mu must be held.
func (f *Fake) fo() *failoverState {
	if f.failover == nil {
		f.failover = &failoverState{
			settleAfter: DefaultReadyAfter,
			zones:       map[string]*hostedZone{},
			changes:     map[string]*rrChange{},
			globals:     map[string]*globalCluster{},
			regions:     map[string]*failoverRegion{},
		}
	}
	return f.failover
}

// foRegion returns a region's failover state, creating it. f.mu must be held.
func (f *Fake) foRegion(name string) *failoverRegion {
	s := f.fo()
	r, ok := s.regions[name]
	if !ok {
		r = &failoverRegion{
			dbInstances:  map[string]*dbInstance{},
			ec2Instances: map[string]*ec2Instance{},
			groups:       map[string]*scalingGroup{},
		}
		s.regions[name] = r
	}
	return r
}

// SetTransitionAfter sets how many describe responses show a failover action in progress before
// it completes (DefaultReadyAfter): the GetChange calls before a Route 53 change is INSYNC, the
// DescribeDBInstances calls before a promoted replica is available, the DescribeGlobalClusters
// calls before a global failover is done, the DescribeInstances calls before an instance is
// running or stopped, and the DescribeAutoScalingGroups calls before a new instance is InService
// or a removed one is gone. The response that completes it shows it complete.
func (f *Fake) SetTransitionAfter(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fo().settleAfter = max(n, 1)
}

// settled counts one more describe of something in transition and reports whether that completes
// it. f.mu must be held.
func (f *Fake) settled(describes *int) bool {
	*describes++
	return *describes >= f.fo().settleAfter
}

// failoverHandler returns the handler of a Query protocol action this file or autoscaling.go
// answers, or nil.
func (f *Fake) failoverHandler(service, action string) func(regionName string, form url.Values) (any, *apiError) {
	switch {
	case service == "autoscaling":
		return func(regionName string, form url.Values) (any, *apiError) {
			return f.serveAutoScaling(regionName, action, form)
		}
	case service == "rds" && slices.Contains([]string{"DescribeDBInstances", "PromoteReadReplica", "DescribeGlobalClusters", "FailoverGlobalCluster"}, action):
		return func(regionName string, form url.Values) (any, *apiError) {
			if v := form.Get("Version"); v != rdsAPIVersion {
				return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "unsupported API version %q", v)
			}
			switch action {
			case "DescribeDBInstances":
				return f.describeDBInstances(regionName, form)
			case "PromoteReadReplica":
				return f.promoteReadReplica(regionName, form)
			case "DescribeGlobalClusters":
				return f.describeGlobalClusters(form)
			}
			return f.failoverGlobalCluster(regionName, form)
		}
	case service == "ec2" && slices.Contains([]string{"DescribeInstances", "StartInstances", "StopInstances"}, action):
		return func(regionName string, form url.Values) (any, *apiError) {
			if v := form.Get("Version"); v != ec2APIVersion {
				return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "unsupported API version %q", v)
			}
			if action == "DescribeInstances" {
				return f.describeInstances(regionName, form)
			}
			return f.startStopInstances(regionName, action, form)
		}
	}
	return nil
}

// RDS DB instances

// dbInstance is a DB instance that can be described and, if it is a read replica, promoted.
type dbInstance struct {
	id        string // lower case
	source    string // the replica's source identifier or ARN; "" once promoted
	status    string // "available" or "modifying" (being promoted)
	describes int    // describes seen while being promoted
}

// AddDBReplica registers a DB instance in the region that is a read replica of source (an
// identifier in the same region, or an ARN). Like AddDBInstance it can be snapshotted.
func (f *Fake) AddDBReplica(regionName, id, source string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := strings.ToLower(id)
	f.region(regionName).instances[key] = true
	f.foRegion(regionName).dbInstances[key] = &dbInstance{id: key, source: source, status: "available"}
}

// dbInstance returns a registered DB instance; instances added with AddDBInstance are standalone
// and available. f.mu must be held.
func (f *Fake) dbInstance(regionName, id string) (*dbInstance, bool) {
	key := strings.ToLower(id)
	r := f.foRegion(regionName)
	if d, ok := r.dbInstances[key]; ok {
		return d, true
	}
	if !f.region(regionName).instances[key] {
		return nil, false
	}
	d := &dbInstance{id: key, status: "available"}
	r.dbInstances[key] = d
	return d, true
}

func (f *Fake) promoteReadReplica(regionName string, form url.Values) (any, *apiError) {
	id := form.Get("DBInstanceIdentifier")
	if id == "" {
		return nil, errorf(http.StatusBadRequest, "MissingParameter", "DBInstanceIdentifier is required")
	}
	d, ok := f.dbInstance(regionName, id)
	switch {
	case !ok:
		return nil, errorf(http.StatusNotFound, "DBInstanceNotFound", "DBInstance %s not found.", id)
	case d.source == "":
		return nil, errorf(http.StatusBadRequest, "InvalidDBInstanceState", "DB Instance is not a read replica.")
	case d.status != "available":
		return nil, errorf(http.StatusBadRequest, "InvalidDBInstanceState", "Instance %s is not in available state.", d.id)
	}
	d.status, d.describes = "modifying", 0
	return f.rdsResponse("PromoteReadReplica", dbInstanceResult{DBInstance: f.dbInstanceXML(regionName, d)}), nil
}

func (f *Fake) describeDBInstances(regionName string, form url.Values) (any, *apiError) {
	size := f.pageSize
	if v := form.Get("MaxRecords"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 20 || n > 100 {
			return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "MaxRecords must be between 20 and 100, got %q", v)
		}
		size = min(size, n)
	}
	var matches []*dbInstance
	if id := form.Get("DBInstanceIdentifier"); id != "" {
		d, ok := f.dbInstance(regionName, id)
		if !ok {
			return nil, errorf(http.StatusNotFound, "DBInstanceNotFound", "DBInstance %s not found.", id)
		}
		matches = append(matches, d)
	} else {
		for key := range f.region(regionName).instances {
			d, _ := f.dbInstance(regionName, key)
			matches = append(matches, d)
		}
		sort.Slice(matches, func(i, j int) bool { return matches[i].id < matches[j].id })
	}
	pageItems, next, aerr := page(matches, form.Get("Marker"), size)
	if aerr != nil {
		return nil, aerr
	}
	res := describeDBInstancesResult{Marker: next}
	for _, d := range pageItems {
		if d.status == "modifying" && f.settled(&d.describes) {
			d.status, d.source = "available", ""
		}
		res.DBInstances = append(res.DBInstances, f.dbInstanceXML(regionName, d))
	}
	return f.rdsResponse("DescribeDBInstances", res), nil
}

type dbInstanceResult struct {
	DBInstance dbInstanceXML `xml:"DBInstance"`
}

type describeDBInstancesResult struct {
	DBInstances []dbInstanceXML `xml:"DBInstances>DBInstance"`
	Marker      string          `xml:",omitempty"`
}

type dbInstanceXML struct {
	DBInstanceIdentifier                  string
	DBInstanceArn                         string
	DBInstanceClass                       string
	DBInstanceStatus                      string
	Engine                                string
	EngineVersion                         string
	AllocatedStorage                      int64
	MultiAZ                               bool
	Endpoint                              struct{ Address, HostedZoneId, Port string }
	ReadReplicaSourceDBInstanceIdentifier string   `xml:",omitempty"`
	ReadReplicaDBInstanceIdentifiers      []string `xml:"ReadReplicaDBInstanceIdentifiers>ReadReplicaDBInstanceIdentifier"`
}

// dbInstanceXML renders d. f.mu must be held.
func (f *Fake) dbInstanceXML(regionName string, d *dbInstance) dbInstanceXML {
	x := dbInstanceXML{
		DBInstanceIdentifier:                  d.id,
		DBInstanceArn:                         "arn:aws:rds:" + regionName + ":" + Account + ":db:" + d.id,
		DBInstanceClass:                       "db.r6g.large",
		DBInstanceStatus:                      d.status,
		Engine:                                "postgres",
		EngineVersion:                         "16.4",
		AllocatedStorage:                      DBInstanceGiB,
		ReadReplicaSourceDBInstanceIdentifier: d.source,
	}
	x.Endpoint.Address = d.id + ".c0ffee123456." + regionName + ".rds.amazonaws.com"
	x.Endpoint.HostedZoneId = "Z2R2ITUGPM61AM"
	x.Endpoint.Port = "5432"
	for _, other := range f.foRegion(regionName).dbInstances {
		if other.source != "" && strings.EqualFold(other.source, d.id) {
			x.ReadReplicaDBInstanceIdentifiers = append(x.ReadReplicaDBInstanceIdentifiers, other.id)
		}
	}
	sort.Strings(x.ReadReplicaDBInstanceIdentifiers)
	return x
}

// Aurora global databases

// globalCluster is an Aurora global database. Its members are DB cluster ARNs.
type globalCluster struct {
	id        string
	members   []string
	writer    string
	target    string // the cluster a failover in progress makes the writer
	dataLoss  bool
	describes int
}

// AddGlobalCluster registers an Aurora global database whose members are the given DB cluster
// ARNs ("arn:aws:rds:us-west-2:123456789012:cluster:orders-west"); the first is the writer.
// Global databases are not regional: every region's RDS endpoint sees them.
func (f *Fake) AddGlobalCluster(id string, members ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := &globalCluster{id: strings.ToLower(id), members: slices.Clone(members)}
	if len(members) > 0 {
		g.writer = members[0]
	}
	f.fo().globals[g.id] = g
}

func (f *Fake) describeGlobalClusters(form url.Values) (any, *apiError) {
	var matches []*globalCluster
	if id := form.Get("GlobalClusterIdentifier"); id != "" {
		g, ok := f.fo().globals[strings.ToLower(id)]
		if !ok {
			return nil, errorf(http.StatusNotFound, "GlobalClusterNotFoundFault", "GlobalCluster %s not found", id)
		}
		matches = append(matches, g)
	} else {
		for _, g := range f.fo().globals {
			matches = append(matches, g)
		}
		sort.Slice(matches, func(i, j int) bool { return matches[i].id < matches[j].id })
	}
	pageItems, next, aerr := page(matches, form.Get("Marker"), f.pageSize)
	if aerr != nil {
		return nil, aerr
	}
	res := describeGlobalClustersResult{Marker: next}
	for _, g := range pageItems {
		if g.target != "" && f.settled(&g.describes) {
			g.writer, g.target, g.dataLoss = g.target, "", false
		}
		res.GlobalClusters = append(res.GlobalClusters, globalClusterXMLOf(g))
	}
	return f.rdsResponse("DescribeGlobalClusters", res), nil
}

func (f *Fake) failoverGlobalCluster(regionName string, form url.Values) (any, *apiError) {
	id, target := form.Get("GlobalClusterIdentifier"), form.Get("TargetDbClusterIdentifier")
	dataLoss, switchover := form.Get("AllowDataLoss") == "true", form.Get("Switchover") == "true"
	switch {
	case id == "":
		return nil, errorf(http.StatusBadRequest, "MissingParameter", "GlobalClusterIdentifier is required")
	case target == "":
		return nil, errorf(http.StatusBadRequest, "MissingParameter", "TargetDbClusterIdentifier is required")
	case dataLoss && switchover:
		return nil, errorf(http.StatusBadRequest, "InvalidParameterCombination", "AllowDataLoss and Switchover cannot be specified together")
	}
	g, ok := f.fo().globals[strings.ToLower(id)]
	if !ok {
		return nil, errorf(http.StatusNotFound, "GlobalClusterNotFoundFault", "GlobalCluster %s not found", id)
	}
	member := ""
	for _, m := range g.members {
		// An ARN, or a cluster identifier in the region of the request.
		if m == target || m == "arn:aws:rds:"+regionName+":"+Account+":cluster:"+target {
			member = m
		}
	}
	switch {
	case member == "":
		return nil, errorf(http.StatusNotFound, "DBClusterNotFoundFault", "DBCluster %s is not a member of global cluster %s", target, g.id)
	case g.target != "":
		return nil, errorf(http.StatusBadRequest, "InvalidGlobalClusterStateFault", "Global cluster %s is already failing over to %s", g.id, g.target)
	case member == g.writer:
		return nil, errorf(http.StatusBadRequest, "InvalidGlobalClusterStateFault", "DB cluster %s is already the primary cluster of global cluster %s", member, g.id)
	}
	g.target, g.dataLoss, g.describes = member, dataLoss, 0
	return f.rdsResponse("FailoverGlobalCluster", globalClusterResult{GlobalCluster: globalClusterXMLOf(g)}), nil
}

type globalClusterResult struct {
	GlobalCluster globalClusterXML `xml:"GlobalCluster"`
}

type describeGlobalClustersResult struct {
	// The list's members are named GlobalClusterMember, as in RDS's model.
	GlobalClusters []globalClusterXML `xml:"GlobalClusters>GlobalClusterMember"`
	Marker         string             `xml:",omitempty"`
}

type globalClusterXML struct {
	GlobalClusterIdentifier string
	GlobalClusterResourceId string
	GlobalClusterArn        string
	Status                  string
	Engine                  string
	EngineVersion           string
	StorageEncrypted        bool
	DeletionProtection      bool
	GlobalClusterMembers    []globalMemberXML `xml:"GlobalClusterMembers>GlobalClusterMember"`
	FailoverState           *failoverStateXML `xml:",omitempty"`
}

type globalMemberXML struct {
	DBClusterArn          string
	Readers               []string `xml:"Readers>member"`
	IsWriter              bool
	SynchronizationStatus string `xml:",omitempty"`
}

type failoverStateXML struct {
	Status            string
	FromDbClusterArn  string
	ToDbClusterArn    string
	IsDataLossAllowed bool
}

func globalClusterXMLOf(g *globalCluster) globalClusterXML {
	x := globalClusterXML{
		GlobalClusterIdentifier: g.id,
		GlobalClusterResourceId: "cluster-" + g.id,
		GlobalClusterArn:        "arn:aws:rds::" + Account + ":global-cluster:" + g.id,
		Status:                  "available",
		Engine:                  "aurora-postgresql",
		EngineVersion:           "16.4",
		StorageEncrypted:        true,
	}
	if g.target != "" {
		status := "switching-over"
		if g.dataLoss {
			status = "failing-over"
		}
		x.Status = status
		x.FailoverState = &failoverStateXML{Status: status, FromDbClusterArn: g.writer, ToDbClusterArn: g.target, IsDataLossAllowed: g.dataLoss}
	}
	for _, m := range g.members {
		mx := globalMemberXML{DBClusterArn: m, IsWriter: m == g.writer}
		if m == g.writer {
			for _, other := range g.members {
				if other != m {
					mx.Readers = append(mx.Readers, other)
				}
			}
		} else {
			mx.SynchronizationStatus = "connected"
		}
		x.GlobalClusterMembers = append(x.GlobalClusterMembers, mx)
	}
	return x
}

// EC2 instances

// ec2Instance is an EC2 instance that can be started and stopped.
type ec2Instance struct {
	id        string
	state     string // pending, running, stopping, stopped, shutting-down, terminated
	describes int    // describes seen while pending or stopping
}

// ec2StateCodes are EC2's numeric codes for instance states.
var ec2StateCodes = map[string]int{
	"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80,
}

// AddEC2Instance registers an EC2 instance in the region in the given state: "running",
// "stopped", "pending", "stopping" or "terminated". Instances pending or stopping become running
// or stopped as they are described.
func (f *Fake) AddEC2Instance(regionName, id, state string) {
	if _, ok := ec2StateCodes[state]; !ok {
		panic("awsfake: unknown EC2 instance state " + strconv.Quote(state))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.foRegion(regionName).ec2Instances[id] = &ec2Instance{id: id, state: state}
}

// instances looks up the instances named by InstanceId.N, all of which must exist. f.mu must be held.
func (f *Fake) instances(regionName string, ids []string) ([]*ec2Instance, *apiError) {
	var out []*ec2Instance
	var missing []string
	for _, id := range ids {
		if !strings.HasPrefix(id, "i-") {
			return nil, errorf(http.StatusBadRequest, "InvalidInstanceID.Malformed", "Invalid id: %q", id)
		}
		inst, ok := f.foRegion(regionName).ec2Instances[id]
		if !ok {
			missing = append(missing, id)
			continue
		}
		out = append(out, inst)
	}
	switch {
	case len(missing) == 1:
		return nil, errorf(http.StatusBadRequest, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", missing[0])
	case len(missing) > 1:
		return nil, errorf(http.StatusBadRequest, "InvalidInstanceID.NotFound", "The instance IDs '%s' do not exist", strings.Join(missing, ", "))
	}
	return out, nil
}

func (f *Fake) startStopInstances(regionName, action string, form url.Values) (any, *apiError) {
	ids := list(form, "InstanceId")
	if len(ids) == 0 {
		return nil, errorf(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter InstanceId")
	}
	insts, aerr := f.instances(regionName, ids)
	if aerr != nil {
		return nil, aerr
	}
	start := action == "StartInstances"
	for _, inst := range insts {
		if inst.state == "terminated" || inst.state == "shutting-down" || (start && inst.state == "stopping") {
			verb := "stopped"
			if start {
				verb = "started"
			}
			return nil, errorf(http.StatusBadRequest, "IncorrectInstanceState",
				"The instance '%s' is not in a state from which it can be %s.", inst.id, verb)
		}
	}
	resp := stateChangeResponse{
		XMLName:   xml.Name{Space: ec2Namespace, Local: action + "Response"},
		RequestID: f.requestID(),
	}
	for _, inst := range insts {
		previous := inst.state
		switch {
		case start && inst.state == "stopped":
			inst.state, inst.describes = "pending", 0
		case !start && (inst.state == "running" || inst.state == "pending"):
			inst.state, inst.describes = "stopping", 0
		}
		resp.Instances = append(resp.Instances, stateChangeXML{
			InstanceID:    inst.id,
			CurrentState:  ec2StateXMLOf(inst.state),
			PreviousState: ec2StateXMLOf(previous),
		})
	}
	return resp, nil
}

func (f *Fake) describeInstances(regionName string, form url.Values) (any, *apiError) {
	ids := list(form, "InstanceId")
	r := f.foRegion(regionName)
	size := len(r.ec2Instances) + 1 // without MaxResults, EC2 returns everything at once
	if v := form.Get("MaxResults"); v != "" {
		if len(ids) > 0 {
			return nil, errorf(http.StatusBadRequest, "InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 5 || n > 1000 {
			return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "Value ( %s ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", v)
		}
		size = min(f.pageSize, n)
	}
	if form.Has("Filter.1.Name") {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "the fake does not filter instances")
	}
	var matches []*ec2Instance
	if len(ids) > 0 {
		var aerr *apiError
		if matches, aerr = f.instances(regionName, ids); aerr != nil {
			return nil, aerr
		}
	} else {
		for _, inst := range r.ec2Instances {
			matches = append(matches, inst)
		}
	}
	sort.Slice(matches, func(i, j int) bool { return matches[i].id < matches[j].id })
	matches = slices.CompactFunc(matches, func(a, b *ec2Instance) bool { return a == b })
	pageItems, next, aerr := page(matches, form.Get("NextToken"), size)
	if aerr != nil {
		return nil, aerr
	}
	resp := describeInstancesResponse{
		XMLName:   xml.Name{Space: ec2Namespace, Local: "DescribeInstancesResponse"},
		RequestID: f.requestID(),
		NextToken: next,
	}
	for _, inst := range pageItems {
		switch {
		case inst.state == "pending" && f.settled(&inst.describes):
			inst.state = "running"
		case inst.state == "stopping" && f.settled(&inst.describes):
			inst.state = "stopped"
		}
		res := reservationXML{ReservationID: "r-" + strings.TrimPrefix(inst.id, "i-"), OwnerID: Account}
		res.Instances = append(res.Instances, instanceXML{
			InstanceID:   inst.id,
			ImageID:      "ami-0123456789abcdef0",
			InstanceType: "t3.micro",
			State:        ec2StateXMLOf(inst.state),
			Placement:    placementXML{AvailabilityZone: regionName + "a"},
			LaunchTime:   timestamp(f.clock),
		})
		resp.Reservations = append(resp.Reservations, res)
	}
	return resp, nil
}

type ec2StateXML struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

func ec2StateXMLOf(state string) ec2StateXML {
	return ec2StateXML{Code: ec2StateCodes[state], Name: state}
}

type stateChangeXML struct {
	InstanceID    string      `xml:"instanceId"`
	CurrentState  ec2StateXML `xml:"currentState"`
	PreviousState ec2StateXML `xml:"previousState"`
}

type stateChangeResponse struct {
	XMLName   xml.Name
	RequestID string           `xml:"requestId"`
	Instances []stateChangeXML `xml:"instancesSet>item"`
}

type instanceXML struct {
	InstanceID   string       `xml:"instanceId"`
	ImageID      string       `xml:"imageId"`
	State        ec2StateXML  `xml:"instanceState"`
	InstanceType string       `xml:"instanceType"`
	LaunchTime   string       `xml:"launchTime"`
	Placement    placementXML `xml:"placement"`
}

type placementXML struct {
	AvailabilityZone string `xml:"availabilityZone"`
}

type reservationXML struct {
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	Instances     []instanceXML `xml:"instancesSet>item"`
}

type describeInstancesResponse struct {
	XMLName      xml.Name
	RequestID    string           `xml:"requestId"`
	Reservations []reservationXML `xml:"reservationSet>item"`
	NextToken    string           `xml:"nextToken,omitempty"`
}
