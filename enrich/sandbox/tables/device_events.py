"""The seven Device*Events tables of advanced hunting, every documented column in the documented order.

Source: Microsoft's advanced-hunting schema pages (``defender-xdr/advanced-hunting-<table>-table.md``).
Those pages write JSON columns such as ``AdditionalFields`` as ``string``; the stored type that
``getschema`` reports (and the Azure Monitor table reference lists) is ``dynamic``, which is what
queries like ``AdditionalFields.Foo`` need, so those columns are ``dynamic`` here.
"""

from __future__ import annotations

from enrich.sandbox.tables.columns import parse_columns

# Column runs that several schema pages list alike, in the same order (spliced in where they stand).
_INITIATING_PROCESS_IMAGE = """
    InitiatingProcessSHA1 string
    InitiatingProcessSHA256 string
    InitiatingProcessMD5 string
    InitiatingProcessFileName string
    InitiatingProcessFileSize long
    InitiatingProcessVersionInfoCompanyName string
    InitiatingProcessVersionInfoProductName string
    InitiatingProcessVersionInfoProductVersion string
    InitiatingProcessVersionInfoInternalFileName string
    InitiatingProcessVersionInfoOriginalFileName string
    InitiatingProcessVersionInfoFileDescription string
    InitiatingProcessId long
    InitiatingProcessCommandLine string
    InitiatingProcessCreationTime datetime
    InitiatingProcessFolderPath string
"""
_INITIATING_PROCESS_ACCOUNT = """
    InitiatingProcessAccountDomain string
    InitiatingProcessAccountName string
    InitiatingProcessAccountSid string
    InitiatingProcessAccountUpn string
    InitiatingProcessAccountObjectId string
"""
_REPORT_AND_REMOTE_SESSION = """
    ReportId long
    AppGuardContainerId string
    AdditionalFields dynamic
    InitiatingProcessSessionId long
    IsInitiatingProcessRemoteSession bool
    InitiatingProcessRemoteSessionDeviceName string
    InitiatingProcessRemoteSessionIP string
"""


DEVICE_NETWORK_EVENTS = parse_columns(
    """
    Timestamp datetime
    DeviceId string
    DeviceName string
    ActionType string
    RemoteIP string
    RemotePort int
    RemoteUrl string
    LocalIP string
    LocalPort int
    Protocol string
    LocalIPType string
    RemoteIPType string
    """
    + _INITIATING_PROCESS_IMAGE
    + """
    InitiatingProcessParentFileName string
    InitiatingProcessParentId long
    InitiatingProcessParentCreationTime datetime
    """
    + _INITIATING_PROCESS_ACCOUNT
    + """
    InitiatingProcessIntegrityLevel string
    InitiatingProcessTokenElevation string
    """
    + _REPORT_AND_REMOTE_SESSION
)

DEVICE_FILE_EVENTS = parse_columns(
    """
    Timestamp datetime
    DeviceId string
    DeviceName string
    ActionType string
    FileName string
    FolderPath string
    SHA1 string
    SHA256 string
    MD5 string
    FileOriginUrl string
    FileOriginReferrerUrl string
    FileOriginIP string
    PreviousFolderPath string
    PreviousFileName string
    FileSize long
    """
    + _INITIATING_PROCESS_ACCOUNT
    + """
    InitiatingProcessMD5 string
    InitiatingProcessSHA1 string
    InitiatingProcessSHA256 string
    InitiatingProcessFolderPath string
    InitiatingProcessFileName string
    InitiatingProcessFileSize long
    InitiatingProcessVersionInfoCompanyName string
    InitiatingProcessVersionInfoProductName string
    InitiatingProcessVersionInfoProductVersion string
    InitiatingProcessVersionInfoInternalFileName string
    InitiatingProcessVersionInfoOriginalFileName string
    InitiatingProcessVersionInfoFileDescription string
    InitiatingProcessId long
    InitiatingProcessCommandLine string
    InitiatingProcessCreationTime datetime
    InitiatingProcessIntegrityLevel string
    InitiatingProcessTokenElevation string
    InitiatingProcessParentId long
    InitiatingProcessParentFileName string
    InitiatingProcessParentCreationTime datetime
    RequestProtocol string
    RequestSourceIP string
    RequestSourcePort int
    RequestAccountName string
    RequestAccountDomain string
    RequestAccountSid string
    ShareName string
    SensitivityLabel string
    SensitivitySubLabel string
    IsAzureInfoProtectionApplied bool
    """
    + _REPORT_AND_REMOTE_SESSION
)

DEVICE_PROCESS_EVENTS = parse_columns(
    """
    Timestamp datetime
    DeviceId string
    DeviceName string
    ActionType string
    FileName string
    FolderPath string
    SHA1 string
    SHA256 string
    MD5 string
    FileSize long
    ProcessVersionInfoCompanyName string
    ProcessVersionInfoProductName string
    ProcessVersionInfoProductVersion string
    ProcessVersionInfoInternalFileName string
    ProcessVersionInfoOriginalFileName string
    ProcessVersionInfoFileDescription string
    ProcessId long
    ProcessCommandLine string
    ProcessIntegrityLevel string
    ProcessTokenElevation string
    ProcessCreationTime datetime
    AccountDomain string
    AccountName string
    AccountSid string
    AccountUpn string
    AccountObjectId string
    LogonId long
    """
    + _INITIATING_PROCESS_ACCOUNT
    + """
    InitiatingProcessLogonId long
    InitiatingProcessIntegrityLevel string
    InitiatingProcessTokenElevation string
    """
    + _INITIATING_PROCESS_IMAGE
    + """
    InitiatingProcessParentId long
    InitiatingProcessParentFileName string
    InitiatingProcessParentCreationTime datetime
    InitiatingProcessSignerType string
    InitiatingProcessSignatureStatus string
    ReportId long
    AppGuardContainerId string
    AdditionalFields dynamic
    """
)

DEVICE_IMAGE_LOAD_EVENTS = parse_columns(
    """
    Timestamp datetime
    DeviceId string
    DeviceName string
    ActionType string
    FileName string
    FolderPath string
    SHA1 string
    SHA256 string
    MD5 string
    FileSize long
    """
    + _INITIATING_PROCESS_ACCOUNT
    + """
    InitiatingProcessIntegrityLevel string
    InitiatingProcessTokenElevation string
    """
    + _INITIATING_PROCESS_IMAGE
    + """
    InitiatingProcessParentId long
    InitiatingProcessParentFileName string
    InitiatingProcessParentCreationTime datetime
    ReportId long
    AppGuardContainerId string
    """
)

DEVICE_EVENTS = parse_columns(
    """
    Timestamp datetime
    DeviceId string
    DeviceName string
    ActionType string
    FileName string
    FolderPath string
    SHA1 string
    SHA256 string
    MD5 string
    FileSize long
    AccountDomain string
    AccountName string
    AccountSid string
    RemoteUrl string
    RemoteDeviceName string
    ProcessId long
    ProcessCommandLine string
    ProcessCreationTime datetime
    ProcessTokenElevation string
    LogonId long
    RegistryKey string
    RegistryValueName string
    RegistryValueData string
    RemoteIP string
    RemotePort int
    LocalIP string
    LocalPort int
    FileOriginUrl string
    FileOriginIP string
    InitiatingProcessSHA1 string
    InitiatingProcessSHA256 string
    InitiatingProcessMD5 string
    InitiatingProcessFileName string
    InitiatingProcessFileSize long
    InitiatingProcessFolderPath string
    InitiatingProcessId long
    InitiatingProcessCommandLine string
    InitiatingProcessCreationTime datetime
    """
    + _INITIATING_PROCESS_ACCOUNT
    + """
    InitiatingProcessVersionInfoCompanyName string
    InitiatingProcessVersionInfoProductName string
    InitiatingProcessVersionInfoProductVersion string
    InitiatingProcessVersionInfoInternalFileName string
    InitiatingProcessVersionInfoOriginalFileName string
    InitiatingProcessVersionInfoFileDescription string
    InitiatingProcessParentId long
    InitiatingProcessParentFileName string
    InitiatingProcessParentCreationTime datetime
    InitiatingProcessLogonId long
    """
    + _REPORT_AND_REMOTE_SESSION
    + """
    CreatedProcessSessionId long
    IsProcessRemoteSession bool
    ProcessRemoteSessionDeviceName string
    ProcessRemoteSessionIP string
    """
)

DEVICE_LOGON_EVENTS = parse_columns(
    """
    Timestamp datetime
    DeviceId string
    DeviceName string
    ActionType string
    LogonType string
    AccountDomain string
    AccountName string
    AccountSid string
    Protocol string
    FailureReason string
    IsLocalAdmin bool
    LogonId long
    RemoteDeviceName string
    RemoteIP string
    RemoteIPType string
    RemotePort int
    """
    + _INITIATING_PROCESS_ACCOUNT
    + """
    InitiatingProcessIntegrityLevel string
    InitiatingProcessTokenElevation string
    """
    + _INITIATING_PROCESS_IMAGE
    + """
    InitiatingProcessParentId long
    InitiatingProcessParentFileName string
    InitiatingProcessParentCreationTime datetime
    """
    + _REPORT_AND_REMOTE_SESSION
)

DEVICE_REGISTRY_EVENTS = parse_columns(
    """
    Timestamp datetime
    DeviceId string
    DeviceName string
    ActionType string
    RegistryKey string
    RegistryValueType string
    RegistryValueName string
    RegistryValueData string
    PreviousRegistryKey string
    PreviousRegistryValueName string
    PreviousRegistryValueData string
    """
    + _INITIATING_PROCESS_ACCOUNT
    + _INITIATING_PROCESS_IMAGE
    + """
    InitiatingProcessParentId long
    InitiatingProcessParentFileName string
    InitiatingProcessParentCreationTime datetime
    InitiatingProcessIntegrityLevel string
    InitiatingProcessTokenElevation string
    ReportId long
    AppGuardContainerId string
    InitiatingProcessSessionId long
    IsInitiatingProcessRemoteSession bool
    InitiatingProcessRemoteSessionDeviceName string
    InitiatingProcessRemoteSessionIP string
    """
)
