"""DeviceInfo and DeviceNetworkInfo (device heartbeats), AlertInfo and AlertEvidence, and FileProfile()'s columns.

Columns and order follow Microsoft's advanced-hunting schema pages. JSON-array columns that the
pages write as ``string`` (``LoggedOnUsers``, ``IPAddresses``, ``ConnectedNetworks``,
``DnsAddresses``, ``DefaultGateways``, ``AdditionalFields``) are stored ``dynamic``, the type the
store reports (Azure Monitor table reference), so ``mv-expand IPAddresses`` works as in MDE.
``Categories`` and ``AttackTechniques`` stay ``string`` (JSON text), as both references list them.
"""

from __future__ import annotations

from enrich.sandbox.tables.columns import parse_columns

DEVICE_INFO = parse_columns(
    """
    Timestamp datetime
    DeviceId string
    DeviceName string
    ClientVersion string
    PublicIP string
    OSArchitecture string
    OSPlatform string
    OSBuild long
    IsAzureADJoined bool
    JoinType string
    AadDeviceId string
    LoggedOnUsers dynamic
    RegistryDeviceTag string
    OSVersion string
    MachineGroup string
    ReportId long
    OnboardingStatus string
    AdditionalFields dynamic
    DeviceCategory string
    DeviceType string
    DeviceSubtype string
    Model string
    Vendor string
    OSDistribution string
    OSVersionInfo string
    MergedDeviceIds string
    MergedToDeviceId string
    IsInternetFacing bool
    SensorHealthState string
    IsExcluded bool
    ExclusionReason string
    ExposureLevel string
    AssetValue string
    DeviceManualTags string
    DeviceDynamicTags string
    ConnectivityType string
    HostDeviceId string
    """
)

DEVICE_NETWORK_INFO = parse_columns(
    """
    Timestamp datetime
    DeviceId string
    DeviceName string
    NetworkAdapterName string
    MacAddress string
    NetworkAdapterType string
    NetworkAdapterStatus string
    TunnelType string
    ConnectedNetworks dynamic
    DnsAddresses dynamic
    IPv4Dhcp string
    IPv6Dhcp string
    DefaultGateways dynamic
    IPAddresses dynamic
    ReportId long
    NetworkAdapterVendor string
    """
)

ALERT_INFO = parse_columns(
    """
    Timestamp datetime
    AlertId string
    Title string
    Category string
    Severity string
    ServiceSource string
    DetectionSource string
    AttackTechniques string
    """
)

ALERT_EVIDENCE = parse_columns(
    """
    Timestamp datetime
    AlertId string
    Title string
    Categories string
    AttackTechniques string
    ServiceSource string
    DetectionSource string
    EntityType string
    EvidenceRole string
    EvidenceDirection string
    FileName string
    FolderPath string
    SHA1 string
    SHA256 string
    FileSize long
    ThreatFamily string
    RemoteIP string
    RemoteUrl string
    AccountName string
    AccountDomain string
    AccountSid string
    AccountObjectId string
    AccountUpn string
    DeviceId string
    DeviceName string
    LocalIP string
    NetworkMessageId string
    EmailSubject string
    Application string
    ApplicationId int
    OAuthApplicationId string
    ProcessCommandLine string
    RegistryKey string
    RegistryValueName string
    RegistryValueData string
    AdditionalFields dynamic
    Severity string
    CloudResource string
    CloudPlatform string
    ResourceType string
    ResourceID string
    SubscriptionId string
    """
)

# The columns `invoke FileProfile()` adds, typed as advanced-hunting-fileprofile-function.md lists them.
FILE_PROFILE = parse_columns(
    """
    SHA1 string
    SHA256 string
    MD5 string
    FileSize int
    GlobalPrevalence int
    GlobalFirstSeen datetime
    GlobalLastSeen datetime
    Signer string
    Issuer string
    SignerHash string
    IsCertificateValid bool
    IsRootSignerMicrosoft bool
    SignatureState string
    IsExecutable bool
    ThreatName string
    Publisher string
    SoftwareName string
    ProfileAvailability string
    """
)
