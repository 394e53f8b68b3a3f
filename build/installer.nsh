; Duplex installer steps (electron-builder NSIS include). Written, not run: NSIS cannot run on the
; development machines (README: "What runs on Windows").
; - Windows Firewall: heartbeats (UDP 47800) and domain sync (TCP 47801) in, for Duplex only.
;   "duplex service install" replaces them with the domain file's own ports (and OPC UA's).
; - duplex.cmd (beside Duplex.exe) on the machine PATH, so that "duplex" works in any console.
; - Start at logon: asked once (default yes; /SD IDYES in silent installs); the answer is
;   the default of the tray's "Start at logon" checkbox, kept in install-options.json.
; Uninstall removes the service, the firewall rules, the PATH entry and the login item, and
; keeps the domain file, the secret and the logs.

!macro customInstall
  ; The rules' names are those "duplex service install" replaces (main/service/plan.ts).
  nsExec::ExecToLog 'netsh advfirewall firewall delete rule name="Duplex heartbeats"'
  nsExec::ExecToLog 'netsh advfirewall firewall delete rule name="Duplex domain sync"'
  nsExec::ExecToLog 'netsh advfirewall firewall add rule name="Duplex heartbeats" dir=in action=allow protocol=UDP localport=47800 program="$INSTDIR\Duplex.exe" enable=yes'
  nsExec::ExecToLog 'netsh advfirewall firewall add rule name="Duplex domain sync" dir=in action=allow protocol=TCP localport=47801 program="$INSTDIR\Duplex.exe" enable=yes'
  ; The machine PATH is REG_EXPAND_SZ: read it unexpanded and write it back as such.
  nsExec::ExecToLog 'powershell -NoProfile -ExecutionPolicy Bypass -Command "$$k = ''HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager\Environment''; $$p = (Get-Item $$k).GetValue(''Path'', '''', ''DoNotExpandEnvironmentNames''); if (($$p -split '';'') -notcontains ''$INSTDIR'') { Set-ItemProperty $$k -Name Path -Type ExpandString -Value ($$p.TrimEnd('';'') + '';$INSTDIR'') }"'
  MessageBox MB_YESNO|MB_ICONQUESTION "Start Duplex automatically when a user logs on to Windows?$\r$\n(It can be changed later in the tray menu: Start at logon.)$\r$\n$\r$\nTo run Duplex from boot, before anyone logs on, install the service once the domain file is in place:$\r$\n  duplex service install --domain <file> --server <name>" /SD IDYES IDNO noAutoStart
    FileOpen $0 "$INSTDIR\resources\install-options.json" w
    FileWrite $0 '{"startAtLogon": true}'
    FileClose $0
    Goto autoStartDone
  noAutoStart:
    FileOpen $0 "$INSTDIR\resources\install-options.json" w
    FileWrite $0 '{"startAtLogon": false}'
    FileClose $0
  autoStartDone:
!macroend

!macro customUnInstall
  ; An update runs the old version's uninstaller too: the service, rules and PATH entry stay.
  ${ifNot} ${isUpdated}
  ; The service first (it stops the node cleanly: the runtime is stopped, the Standby takes over).
  nsExec::ExecToLog '"$INSTDIR\duplex.cmd" service uninstall'
  nsExec::ExecToLog 'netsh advfirewall firewall delete rule name="Duplex heartbeats"'
  nsExec::ExecToLog 'netsh advfirewall firewall delete rule name="Duplex domain sync"'
  nsExec::ExecToLog 'netsh advfirewall firewall delete rule name="Duplex OPC UA endpoint"'
  nsExec::ExecToLog 'powershell -NoProfile -ExecutionPolicy Bypass -Command "$$k = ''HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager\Environment''; $$p = (Get-Item $$k).GetValue(''Path'', '''', ''DoNotExpandEnvironmentNames''); Set-ItemProperty $$k -Name Path -Type ExpandString -Value ((($$p -split '';'') | Where-Object { $$_ -and $$_ -ne ''$INSTDIR'' }) -join '';'')"'
  DeleteRegValue HKCU "Software\Microsoft\Windows\CurrentVersion\Run" "com.duplex.redundancy"
  DeleteRegValue HKCU "Software\Microsoft\Windows\CurrentVersion\Run" "Duplex"
  Delete "$INSTDIR\duplex.cmd"
  MessageBox MB_OK|MB_ICONINFORMATION "Duplex is removed: its service, firewall rules, command and login item.$\r$\n$\r$\nKept: the domain file, the domain secret and the logs (the domain file's folder and its duplex-state folder), and %ProgramData%\Duplex\tray.json. Delete them by hand if this server leaves the domain." /SD IDOK
  ${endIf}
!macroend
