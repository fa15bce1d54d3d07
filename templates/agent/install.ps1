# Fleetwatch agent installer for Windows, served by {{ server }}. In an elevated PowerShell:
#   & ([scriptblock]::Create((irm {{ server }}/agent/install.ps1))) -Token fwe_...
# Needs Python 3.11+ (python.org installer, "Add python.exe to PATH"). It puts the agent in its own virtualenv,
# checks the download against the server's SHA-256, enrolls with the token and prints the service commands.
param(
    [Parameter(Mandatory = $true)][string]$Token,
    [string]$InstallDir = "$env:ProgramFiles\Fleetwatch Agent",
    [switch]$NoService
)
$ErrorActionPreference = "Stop"
$Server = "{{ server }}"
if ($Token -notmatch '^fwe_[A-Za-z0-9_-]+$') { throw "That is not an enrollment token: they start with fwe_" }
$python = (Get-Command python -ErrorAction SilentlyContinue)
if (-not $python) { throw "Python 3.11 or newer is needed (python.org, with 'Add python.exe to PATH')." }
& $python.Source -c "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)"
if ($LASTEXITCODE -ne 0) { throw "Python 3.11 or newer is needed." }

$release = Invoke-RestMethod -UseBasicParsing "$Server/agent/release.json"
if ($release.wheel -notmatch '^fleetwatch_agent-[A-Za-z0-9_.+-]+\.whl$') { throw "Unexpected file: $($release.wheel)" }
$wheel = Join-Path ([System.IO.Path]::GetTempPath()) $release.wheel
Invoke-WebRequest -UseBasicParsing "$Server/agent/download/$($release.wheel)" -OutFile $wheel
if ((Get-FileHash $wheel -Algorithm SHA256).Hash.ToLower() -ne $release.sha256) {
    Remove-Item $wheel
    throw "The download does not match its SHA-256; nothing was installed."
}
& $python.Source -m venv $InstallDir
& "$InstallDir\Scripts\python.exe" -m pip install --quiet --disable-pip-version-check --upgrade $wheel
& "$InstallDir\Scripts\fleetwatch-agent.exe" enroll --server $Server --token $Token
if ($LASTEXITCODE -ne 0) { throw "Enrollment failed." }
if (-not $NoService) { & "$InstallDir\Scripts\fleetwatch-agent.exe" install-service }
Remove-Item $wheel
Write-Host "Fleetwatch agent $($release.version) installed in $InstallDir and enrolled with $Server."
