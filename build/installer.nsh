; Duplex installer steps (electron-builder NSIS include).
; - Windows Firewall: heartbeats (UDP 47800) and domain sync (TCP 47801) in, for Duplex only.
;   Domains that change multicast.port or sync.port need the rule changed to match.
; - Start at logon: asked once (default yes; /SD IDYES in silent installs); the answer is
;   the default of the tray's "Start at logon" checkbox, kept in install-options.json.

!macro customInstall
  nsExec::ExecToLog 'netsh advfirewall firewall add rule name="Duplex heartbeats (UDP 47800)" dir=in action=allow protocol=UDP localport=47800 program="$INSTDIR\Duplex.exe" enable=yes'
  nsExec::ExecToLog 'netsh advfirewall firewall add rule name="Duplex domain sync (TCP 47801)" dir=in action=allow protocol=TCP localport=47801 program="$INSTDIR\Duplex.exe" enable=yes'
  MessageBox MB_YESNO|MB_ICONQUESTION "Start Duplex automatically when a user logs on to Windows?$\r$\n(It can be changed later in the tray menu: Start at logon.)" /SD IDYES IDNO noAutoStart
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
  nsExec::ExecToLog 'netsh advfirewall firewall delete rule name="Duplex heartbeats (UDP 47800)"'
  nsExec::ExecToLog 'netsh advfirewall firewall delete rule name="Duplex domain sync (TCP 47801)"'
!macroend
