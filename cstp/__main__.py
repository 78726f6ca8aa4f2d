from cstp.cli import main

raise SystemExit(main())
