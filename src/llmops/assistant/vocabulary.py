"""The rules' vocabulary in English, German, Spanish and French, one `Lexicon` per idea.

General words of each domain (outages, security, requests, private life, scams), not phrases from any
one email, so they carry over to mail the rules were never tuned on. Built once at import; immutable.
"""

from __future__ import annotations

from llmops.assistant.lexicon import Lexicon

INCIDENT = Lexicon(
    [
        # en
        "outage", "outages", "is down", "are down", "went down", "was down", "were down", "goes down",
        "down for", "down since", "production down", "prod down", "site down", "service down", "sev1", "sev 1",
        "sev2", "sev 2", "p1", "firing", "data loss", "incident", "major incident", "disk full",
        "disk is full", "running out of disk", "out of memory", "oom", "5xx", "502", "503", "504",
        "error rate", "paging", "paged", "on fire", "not reachable", "unreachable", "can t log in",
        "cannot log in", "can t login", "unable to log in", "nobody can", "no one can", "stopped working",
        "not loading", "doesn t load", "won t load", "corrupted", "haven t received", "not received",
        "stopped", "no longer", "crashed", "crash", "died", "on the bridge", "join the bridge", "war room",
        "still down", "been down", "completely down", "totally down", "down on our side", "down for us",
        "is anyone looking", "anyone looking into", "someone on it", "anyone on it", "who should i ping",
        "jemand dran", "alguien lo está mirando", "quelqu un est dessus", "every time they try",
        "happening again", "down again", "failing again", "wieder ausgefallen", "otra vez caído",
        "de nuevo caído", "à nouveau en panne", "encore en panne", "investigating", "service disruption", "disruption", "packet loss", "connectivity issues", "partial outage",
        "degraded performance", "elevated errors", "elevated error rates", "standstill", "at a standstill",
        # de
        "*ausfall", "ausgefallen", "*störung", "gestört", "nicht erreichbar", "funktioniert nicht",
        "funktioniert nicht mehr", "geht nicht mehr", "läuft voll", "fehlerquote", "platte voll",
        "ausgelöst", "stillstand", "steht still", "abgestürzt", "krisenraum", "krisenstab", "beeinträchtigung",
        "unterbrechung",
        # es
        "caída", "caído", "caídos", "se ha caído", "se cayó", "no carga", "no funciona", "no pueden", "no puede",
        "ya no",
        "fuera de servicio", "incidente", "disparada", "sin servicio", "tasa de errores", "sala de crisis",
        "interrupción", "paralizado", "paralizada",
        # fr
        "panne", "en panne", "indisponible", "ne fonctionne plus", "ne fonctionne pas", "ne passe plus",
        "ne passe", "ne peuvent plus", "incident majeur", "déclenchée", "hors service", "taux d erreur",
        "cellule de crise", "planté", "perturbation", "interruption", "paralysé", "paralysée",
    ]
)  # fmt: skip
SECURITY = Lexicon(
    [
        # en
        "breach", "breached", "compromised", "ransomware", "malware", "trojan", "stealer", "infostealer",
        "exfiltration", "exfiltrated", "data leak", "leaked", "intrusion", "unauthorized access",
        "from an ip", "von einer ip", "desde una ip", "depuis une ip", "administrator role", "admin accounts",
        "privilege escalation", "escalada de privilegios", "élévation de privilèges",
        "unauthorised access", "account takeover", "impossible travel", "encrypted files", "ddos",
        "attack", "under attack", "key exposed", "secret exposed", "exposed", "published", "unexplained",
        "hijacked", "defaced", "suspicious activity", "mfa reset", "mfa method", "mfa replaced", "mfa changed",
        "2fa reset", "unauthorized", "unauthorised", "unusual location", "suspicious login", "suspicious sign in",
        "suspicious access", "data exposure", "exposure", "verdächtige anmeldung", "verdächtiger zugriff",
        "datenpanne", "datenschutzvorfall", "acceso sospechoso", "actividad sospechosa", "inicio de sesión sospechoso",
        "fuga de datos", "exposición de datos", "connexion suspecte", "accès suspect", "activité suspecte",
        "violation de données",
        # de
        "kompromittiert", "verschlüsselt", "verschlüsselte", "datenleck", "*angriff", "sicherheitsvorfall",
        "abgeflossen", "unbefugt", "unbefugter zugriff",
        # es
        "comprometida", "comprometido", "exfiltración", "filtración", "filtrado", "cifrados", "ataque",
        "intrusión", "acceso no autorizado", "brecha",
        # fr
        "compromis", "exfiltration de données", "fuite", "fuite de données", "chiffrés", "attaque",
        "piratage", "piraté", "accès non autorisé", "minage",
        # compromise in plain words: ransom notes, secrets in public, data seen by the wrong people
        "mailbox rule", "forwarding rule", "from a country", "aus einem land", "desde un país", "depuis un pays",
        "reset his password", "reset her password",
        "stolen", "robado", "robada", "gestohlen", "volé", "volée", "publicly readable", "publicly accessible",
        "unknown ip", "unknown ips", "another customer", "other customers", "autre client", "autres clients",
        "autre enseigne", "autre société", "otro cliente", "otros clientes", "anderen kunden",
        "ransom", "ransom note", "lösegeld", "rescate", "rançon", "public repo", "public repository",
        "secret scanning", "still active", "none of us", "keiner von uns", "ninguno de nosotros", "aucun de nous",
        "schadsoftware", "schadprogramm", "öffentlich einsehbar", "einsehbar", "en clair", "circulent",
        "different company", "another company", "otra empresa", "autre entreprise", "anderen firma",
        "unknown server", "unbekannten server", "servidor desconocido", "serveur inconnu", "exportó",
        "exported the", "descargado", "téléchargé",
    ]
)  # fmt: skip
INCIDENT_WEAK = Lexicon(
    [
        "fail", "failing", "failed", "fails", "failure", "failures", "error", "errors", "timeouts", "timeout",
        "timing out", "degraded", "unavailable", "not working", "broken", "latency", "blocked", "stuck",
        "delayed", "lag", "stale", "500", "missing", "wrong", "revoke", "rollback", "roll back", "rejected",
        "rejecting", "rechazado", "rechazados", "rejeté", "rejetés", "rejetées", "duplicate", "duplicated",
        "duplicados", "duplicadas", "doppelt", "en double", "incorrect", "incorrectos", "erróneos", "erróneas",
        "erronées", "erronés", "faux", "fausses", "falsos",
        "fehler", "fehlgeschlagen", "blockiert", "falsch", "falschen", "hängt", "verzögert", "gestoppt",
        "veraltet", "veraltete", "abgebrochen", "kaputt", "langsam", "angehalten",
        "fallo", "fallos", "fallan", "falla", "errores", "bloqueado", "bloqueados", "bloqueadas", "detenido",
        "parado", "lento", "roto",
        "erreur", "erreurs", "échec", "échoue", "bloqué", "bloquée", "bloqués", "bloquées", "coupée", "arrêté",
        "lent", "cassé",
        "coupé", "retard",
        # en: plain words for a system that does not do its job
        "expired", "abgelaufen", "caducado", "caducó", "expiré", "vide", "vides", "leer", "vacío", "vacías",
        "empty",
        "detenid*", "coupur*", "étein*", "abgewiesen", "lente", "lenta",
        "*error", "*exception", "offline", "dead", "any more", "anymore", "can t reach", "cannot reach",
        "won t", "doesn t work", "don t work", "empty file", "scheitert", "scheitern", "zurückrollen",
        "hang", "hangs", "hanging", "hung", "spins", "spinning", "spinning wheel", "blank page", "white page",
        "frozen", "freezes", "unresponsive", "not responding", "doesn t respond", "won t open", "won t start",
        "can t get in", "can t access", "cannot access", "unable to", "refuses", "refusing", "refused",
        "declined", "read only", "flatlined", "dropped to zero", "nothing works", "not syncing", "haven t synced",
        "backlog", "piling up", "halted", "lapses", "crashloopbackoff", "oomkilled", "bad gateway",
        "locked out", "gives up", "aborted", "without a successful", "in a row", "consecutive", "refuse",
        "expires in", "will expire", "expire dans", "läuft ab", "caduca en",
        # de
        "hängen", "antwortet nicht", "reagiert nicht", "fehlerseite", "nicht mehr", "ins leere", "nichts mehr",
        "keine verbindung", "komme nicht", "kommt nicht", "kommen nicht", "lädt nicht", "hintereinander",
        # es
        "no responde", "no abre", "no se puede", "no carga", "parados", "paradas", "colgado", "colgada",
        "no arranca", "no entra", "no podemos", "no consigo", "seguidas", "seguidos",
        # fr
        "ne répond", "ne répond plus", "ne s affiche plus", "n arrive plus", "n arrivent plus", "n arrive pas",
        "tourne dans le vide", "délai dépassé", "plus rien", "plante", "consécutives", "consécutifs",
    ]
)  # fmt: skip
ALERT_SEVERE = Lexicon(
    [
        "critical", "crit", "high", "p1", "sev1", "kritisch", "crítico", "crítica", "critique", "firing",
        "alerting", "triggered", "disparada", "déclenchée", "ausgelöst",
    ]
)  # fmt: skip
RESOLVED = Lexicon(
    [
        "closed", "clos", "clôturé", "cerrada", "cerrado", "geschlossen", "working again", "funktioniert wieder",
        "läuft wieder", "laufen wieder", "vuelve a funcionar", "con normalidad", "fonctionne de nouveau",
        "fonctionne normalement", "wieder normal", "stable since", "stabil",
        "resolved", "all clear", "recovered", "back to normal", "has been fixed", "is fixed now", "was fixed",
        "now fixed", "green again", "back up",
        "renewed successfully", "successfully renewed", "no action needed", "no impact", "no threats",
        "behoben", "wiederhergestellt", "gelöst", "erfolgreich erneuert", "entwarnung",
        "resuelto", "restablecido", "solucionado", "sin impacto",
        "résolu", "rétabli", "aucune menace", "sans impact",
    ]
)  # fmt: skip
STATUS_FIXED = Lexicon(
    ["fixed", "passed", "behoben", "corregido", "corrigé"]
)  # a notice's subject: "Fixed: …"
RETROSPECTIVE = Lexicon(
    [
        "rca", "root cause", "postmortem", "post mortem", "incident report", "write up", "write ups",
        "last week", "last month", "thanks for fixing", "report on the incident", "lessons learned",
        "debrief", "retro", "retrospective", "post incident", "nachbesprechung", "revisión del incidente",
        "retour d expérience", "retex",
        "vorfallbericht", "ursachenanalyse", "letzte woche", "incident bericht", "störungsbericht",
        "ausfallbericht", "vom letzten", "der letzten woche", "ursache", "informe del incidente", "análisis de causa",
        "la semana pasada", "rapport d incident", "rapport sur l incident", "analyse des causes",
        "la semaine dernière", "le mois dernier", "credit note", "service credit", "compensation",
        "gutschrift", "avoir", "nota de crédito", "dédommagement",
    ]
)  # fmt: skip
NOW = Lexicon(
    [
        "since", "right now", "currently", "ongoing", "at the moment", "now", "immediately", "asap",
        "as soon as possible", "as soon as you can", "today", "this morning", "tonight", "still",
        "minutes", "last hour", "past hour", "for the last", "desde hace", "seit", "sofort", "gerade", "heute", "jetzt", "aktuell", "immer noch",
        "desde", "ahora", "en este momento", "inmediatamente", "hoy", "esta mañana", "todavía",
        "depuis", "en ce moment", "immédiatement", "aujourd hui", "ce matin", "ce soir", "tout de suite",
        "actuellement", "toujours",
        "ago", "just now", "for hours", "for two hours", "half hour", "climbing", "and growing", "and counting",
        "literally", "minuten", "zurzeit", "momentan", "heute früh", "minutos", "ahora mismo", "sin parar",
        "esta madrugada",
        "il y a", "depuis l ouverture", "les uns après les autres",
    ]
)  # fmt: skip
_WEEKDAYS = {
    ("by", "before"): "monday tuesday wednesday thursday friday",
    ("bis", "vor"): "montag dienstag mittwoch donnerstag freitag",
    ("antes del", "para el", "hasta el"): "lunes martes miércoles jueves viernes",
    ("d ici", "avant", "pour"): "lundi mardi mercredi jeudi vendredi",
}
DEADLINE = Lexicon(
    f"{preposition} {day}"
    for prepositions, days in _WEEKDAYS.items()
    for preposition in prepositions
    for day in days.split()
)
REQUEST = Lexicon(
    [
        # en
        "please", "can you", "could you", "would you", "will you", "kindly", "need you to", "i need",
        "we need", "let me know", "quick question", "we would like", "i would like", "approve", "approval", "review", "sign", "sign off", "sign-off",
        "confirm", "deadline", "decide", "decision", "endorse", "endorsement", "certify", "your input",
        "your eyes", "feedback", "waiting for your", "awaiting your", "pick a", "choose", "due", "still open",
        "do you want", "would you like", "prefer", "do you have time", "would you have", "by monday",
        "by tuesday", "by wednesday", "by thursday", "by friday", "by tomorrow", "by end of",
        # de
        "bitte", "kannst du", "könntest du", "könnten sie", "können sie", "freigabe", "freigeben",
        "brauche", "brauchen", "warten auf", "unterschrift", "unterschreiben", "genehmigen", "prüfen",
        "rückmeldung", "entscheiden", "bestätigen", "fehlt noch", "rückfrage", "bräuchte", "benötige",
        "ich möchte", "wir möchten", "noch offen", "fällig", "möchtest du", "hätten sie zeit",
        "hast du zeit",
        # es
        "por favor", "puedes", "podrías", "podríamos", "pendiente", "pendientes", "quieres", "prefieres", "tendría", "tendrías",
        "tienes tiempo", "pueden", "nos gustaría", "me gustaría", "necesito", "necesitamos", "apruebas", "aprobar",
        "aprobación", "confirmar", "confirmes", "revisar", "firmar", "dime", "decidir",
        # fr
        "pouvez vous", "pourriez vous", "voulez vous", "préférez", "souhaitez vous", "auriez vous", "aurais tu", "nous souhaitons", "je souhaiterais", "j aimerais", "peux tu", "pourrais tu", "merci de", "dis moi", "rappeler",
        "valider", "validation", "signer", "relire", "confirmer", "besoin de", "décider", "approuver",
        # asking for an opinion, in any of the four languages
        "can someone", "could someone", "can somebody", "kann jemand", "könnte jemand", "puede alguien",
        "podría alguien", "quelqu un peut", "quelqu un pourrait",
        "we wanted to know", "wir wollten wissen", "queríamos saber", "quería saber", "nous voulions savoir",
        "je voulais savoir",
        "your comments", "your thoughts", "would love your", "what do you think", "bräuchten", "benötigen",
        "deine meinung", "ihre meinung", "was meinst du", "tu opinión", "qué opinas", "vos retours", "tes retours",
        "qu en penses tu", "needs to", "blocked until",
    ]
)  # fmt: skip
FYI = Lexicon(
    [
        "just flagging", "for a future release", "fyi", "for your information", "no action needed", "no action required", "no action is needed",
        "just so you know", "nothing to do", "no need to reply", "no need to respond", "heads up",
        "booking confirmed", "booking reference", "your trip is booked", "receipt", "out of office",
        "automatic reply", "auto reply", "autoreply", "changelog", "announcement",
        "if this was you", "digest", "newsletter", "recording", "release notes", "summary", "recap",
        "delivered", "has been paid", "was paid", "paid by", "paid with", "payment received", "direct debit",
        "nothing changes", "for reference", "bezahlt", "pagado", "payée", "payé", "is confirmed",
        "has been confirmed", "est confirmée", "est confirmé", "ist bestätigt", "wurde bestätigt", "está confirmada",
        "booking confirmation", "order confirmation", "buchungsbestätigung", "bestellbestätigung", "has been renewed", "updated invitation", "view only",
        "shared with you", "thanks for the", "thank you for the", "no further questions", "danke für",
        "keine weiteren fragen", "gracias por", "sin más preguntas", "merci pour", "pas d autres questions",
        "nichts zu tun", "zur info", "zur kenntnis", "keine aktion", "abwesenheitsnotiz",
        "automatische antwort", "rückblick", "lastschrift", "abgebucht", "ist online",
        "para tu información", "para su información", "fuera de la oficina", "recibo", "resumen",
        "novedades", "sin impacto esperado", "domiciliación",
        "pour info", "absence", "absent", "e billet", "rapport hebdomadaire", "au programme",
        "prélèvement", "récapitulatif",
    ]
)  # fmt: skip
CALENDAR_NOTICE = Lexicon(
    [
        "updated invitation", "invitation updated", "accepted", "declined", "canceled", "cancelled",
        "room change", "new location", "aktualisierte einladung", "abgesagt", "angenommen", "abgelehnt",
        "invitación actualizada", "cancelada", "aceptada", "rechazada", "invitation mise à jour", "annulé",
        "annulée", "accepté", "acceptée", "refusé",
    ]
)  # fmt: skip
SYSTEM = Lexicon(
    [
        "site", "website", "web app", "app", "application", "api", "server", "servers", "database", "db",
        "cluster", "service", "services", "portal", "checkout", "login", "logins", "sign in", "payments",
        "payment step", "queue", "endpoint", "pods", "replicas", "primary", "shares", "handhelds", "terminals",
        "shop", "web shop", "webshop", "onlineshop", "online store", "boutique", "zertifikat", "certificado",
        "certificat",
        "cola", "colas", "servicio", "servicios", "file d attente", "baie", "datacenter", "data centre",
        "data center", "rechenzentrum", "centro de datos", "bucket", "back office", "backoffice", "système",
        "phone lines", "phones", "telephony", "anmeldung", "banca online",
        "sync", "interface", "dashboard", "console", "platform", "backup", "backups", "certificate", "dns",
        "network", "vpn", "mail relay", "environment", "instance", "node", "storage", "disk", "volume",
        "rollout", "webhooks", "integration", "*server", "*datenbank", "webseite", "seite", "schnittstelle",
        "dienst", "konsole", "warteschlange", "plattform", "system", "anwendung", "kassen", "netzwerk",
        "web", "página", "servidor", "servidores", "base de datos", "plataforma", "panel", "sitio",
        "aplicación", "sistema", "sincronización", "tienda", "serveur", "serveurs", "base de données",
        "caisses", "terminaux", "plateforme", "appli", "messagerie", "réseau", "portail", "synchronisation",
    ]
)  # fmt: skip
PRODUCTION = Lexicon(
    ["prod", "production", "live", "produktion", "producción", "en production", "all tenants"]
)
CALM = Lexicon(
    [
        "not blocking", "just flagging", "nicht blockierend", "no es bloqueante", "pas bloquant",
        "not urgent", "not critical", "no rush", "no hurry", "when you have time", "when you get a chance",
        "nicht dringend", "keine eile", "no es urgente", "sin prisa", "pas urgent", "rien d urgent", "pas pressé",
    ]
)  # fmt: skip
IMPACT = Lexicon(
    [
        "customers", "users", "clients", "everyone", "all tenants", "kunden", "nutzer", "alle", "clientes",
        "usuarios", "todos", "utilisateurs", "tous",
        "revenue", "umsatz", "ingresos", "chiffre d affaires",
        "affected", "affects", "betroffen", "afectados", "affectés", "tickets", "callers",
        "customer", "shoppers", "drivers", "orders", "nobody", "no one", "calling", "phoned", "complaining",
        "complaints", "kundinnen", "anrufen", "niemand", "lager", "llaman", "pedidos", "envíos", "nadie",
        "appellent", "magasins", "personne", "commandes", "paiements", "checkout", "payments", "zahlungen",
        "pagos",
    ]
)  # fmt: skip
TERMINATION = Lexicon(
    [
        "terminat*", "cancel the contract", "walk away", "kündig*", "rescind*", "cancelar el contrato",
        "résili*",
    ]
)  # fmt: skip
WORK = Lexicon(
    [
        "interview", "candidate", "application", "position", "offer letter", "start date", "invoice",
        "customer", "bewerbung", "stelle", "vorstellungsgespräch", "rechnung", "kunde",
        "candidatura", "puesto", "entrevista", "incorporación", "factura", "cliente", "entretien",
        "candidature", "poste", "facture",
    ]
)  # fmt: skip
REMINDER = Lexicon(["reminder", "erinnerung", "recordatorio", "rappel"])
OUT_OF_OFFICE = Lexicon(
    [
        "out of office", "automatic reply", "auto reply", "autoreply", "abwesenheitsnotiz",
        "automatische antwort", "fuera de la oficina", "respuesta automática", "absence", "réponse automatique",
    ]
)  # fmt: skip
PERSONAL = Lexicon(
    [
        # en
        "love", "love you", "mum", "mom", "dad", "kids", "children", "sister", "brother", "aunt", "uncle",
        "cousin", "grandma", "grandpa", "birthday", "weekend", "christmas", "holidays", "hugs", "xx",
        "xxx", "lunch", "dinner", "drinks", "party", "wedding", "photos", "school", "teacher", "class",
        "parents", "football", "tickets", "hospital", "x ray", "blanket", "neighbour", "neighbor",
        "landlord", "flat", "book club", "gym", "membership", "vet", "dentist", "doctor", "coffee",
        "beer", "bbq", "game", "match", "club", "tournament", "holiday", "vacation", "gift", "presents",
        "save the date", "godchild", "goddaughter", "godson", "wine", "cake", "recipe", "cat", "dog",
        # de
        "liebe grüße", "schatz", "mama", "papa", "kinder", "schwester", "bruder", "oma", "opa",
        "geburtstag", "wochenende", "weihnachten", "ferien", "urlaub", "nachbar", "nachbarin", "keller",
        "vermieter", "elternabend", "schule", "verein", "turnier", "mannschaft", "ihr lieben", "training", "glühwein", "hochzeit",
        "geschenk", "feiern", "party", "kneipe", "bier",
        # es
        "cariño", "besos", "mamá", "papá", "abrazo", "abrazos", "navidad", "niños", "hermana", "hermano",
        "tía", "tío", "primo", "prima", "abuela", "abuelo", "cumpleaños", "fin de semana", "vacaciones",
        "regalo", "regalos", "reyes", "boda", "cena", "vecino", "vecina", "colegio", "feliz navidad",
        # fr
        "salut", "bisous", "ta femme", "ça te dit", "partant", "maman", "papa", "enfants", "sœur", "frère",
        "tante", "oncle", "cousin", "cousine", "anniversaire", "week end", "noël", "vacances", "cadeau",
        "mariage", "filleule", "filleul", "parrain", "marraine", "voisin", "voisine", "livre", "séjour",
        "gîte", "apéro", "dîner",
    ]
)  # fmt: skip
PRIVATE_LIFE = Lexicon(
    [
        "dentist", "doctor s appointment", "paediatrician", "pediatrician", "vet", "school trip",
        "dear parents", "liebe eltern", "chers parents", "queridas familias", "estimadas familias",
        "elterngruppe", "fahrgemeinschaft*", "sporthalle", "trainer", "trainerin",
        "praxis", "arztpraxis", "laborwerte", "lab results", "blood test", "análisis de sangre",
        "analyses de sang", "cabinet médical", "consulta médica",
        "tenancy", "rent", "lettings", "miete", "alquiler", "loyer", "bail",
        # lessons and hobbies
        "lesson", "lessons", "clase de", "clases de", "unterricht", "cours de", "guitar*", "gitarre*", "piano",
        "klavier*", "violin*", "geige", "violon", "music school", "musikschule", "escuela de música",
        "école de musique", "pottery", "töpfer*", "cerámica", "poterie", "choir", "chor", "coro", "chorale",
        "parents evening", "kindergarten", "nursery", "landlord", "neighbour", "neighbor", "wedding",
        "birthday party", "zahnarzt*", "*arzttermin", "kinderarzt*", "tierarzt*", "hausarzt*", "elternabend", "klassenfahrt",
        "kita", "vermieter", "nachbar", "nachbarin", "hochzeit", "geburtstag", "dentista", "pediatra",
        "veterinario", "excursión", "guardería", "reunión de padres", "casero", "vecino", "vecina", "boda",
        "cumpleaños", "médecin", "dentiste", "vétérinaire", "sortie scolaire", "crèche", "réunion parents",
        "voisin", "voisine", "mariage", "anniversaire", "école", "schule", "colegio", "escuela", "school",
        "résidents", "immeuble", "syndic", "copropriété", "hausverwaltung", "mieter", "mieterin", "wohnung",
        "comunidad de vecinos", "administrador de fincas", "residents", "tenants", "apartment", "adhésion",
        "mitgliedschaft", "mitgliedsbeitrag", "cuota de socio", "gym", "fitness",
    ]
)  # fmt: skip
EMERGENCY = Lexicon(
    [
        "hospital", "emergency room", "emergency", "accident", "ambulance", "broke down", "broken down",
        "fell", "injured", "hurt", "call me as soon as", "call me now", "krankenhaus", "notaufnahme",
        "unfall", "gestürzt", "urgencias", "accidente", "se cayó", "hôpital", "urgences", "tombée", "tombé",
        "blessé", "fever", "fieber", "fiebre", "fièvre", "ingresad*", "se ha caído", "hit his head",
        "hit her head",
    ]
)  # fmt: skip
JUNK = Lexicon(
    [
        "congratulations", "you have won", "winner", "lottery", "prize", "claim your", "western union",
        "processing fee", "bitcoin", "btc", "usdt", "crypto", "guaranteed", "zero risk", "returns of",
        "investment opportunity", "limited spots", "trading fund", "seo", "first page of google",
        "google ranking", "price list", "free audit", "act now", "100 free", "lucky", "per hour", "hour",
        "from home", "earn", "followers", "dedicated developers", "dedicated engineers", "outsourcing",
        "offshore", "we can fix", "book a call", "quick call", "free trial", "discount", "special offer",
        "limited time", "last places", "only", "leads", "lead list", "cut costs", "dormant account",
        "foreign partner", "next of kin", "inheritance", "beneficiary", "million usd", "million dollars",
        "dear friend", "erbschaft", "herencia", "héritage", "oferta especial", "solo este mes", "only this month",
        "this month only", "nur diesen monat", "offre spéciale", "offre exclusive", "places limitées",
        "plazas limitadas", "begrenzte plätze", "limited places", "profitez", "aprovecha",
        "gewinner", "gewinn", "rabatt", "sonderangebot", "senken", "jetzt", "kostenlos", "unverbindlich",
        "enhorabuena", "premio", "ganador", "lotería", "seguidores", "descuento", "gratis",
        "garantizado", "félicitations", "gagnant", "remise", "dernières places", "exposants",
        "gratuit", "promotion",
        # investment fraud and cold pitches in general words
        "sin riesgo", "ohne risiko", "sans risque", "no risk", "rentabilidad", "rendite", "rendement",
        "garantizad*", "garantiert", "garanti", "cripto*", "krypto*", "crypto*", "nearshore", "lower cost",
        "backlinks", "rank higher", "high authority", "packages start",
        "gratuito", "regístrate", "register now", "jetzt registrieren", "inscrivez vous", "for an intro", "intro call", "if not relevant", "won t follow up", "i noticed", "scale your",
    ]
)  # fmt: skip
LURE = Lexicon(
    [
        "review and sign", "sign the document", "sign the amendment", "sign the contract", "shared a file",
        "shared a document", "docusign", "sharepoint", "onedrive", "dropbox", "wetransfer", "voicemail",
        "fax message", "parcel", "customs fee", "delivery failed", "delivery attempt", "confirm your address",
        "refund", "re register", "authenticator", "qr code", "scan the code", "licence expired",
        "license expired", "reactivate", "reactivation", "unusual sign in", "unusual activity",
        "ungewöhnlich*", "actividad inusual", "activité inhabituelle", "eingeschränkt", "restringido",
        "restreint",
        "versandgebühr", "zustellung fehlgeschlagen", "paket", "zollgebühr", "rückerstattung", "erstattung",
        "reembolso", "devolución", "paquete", "entrega fallida", "tasa de aduana",
        "remboursement", "colis", "livraison échouée", "frais de douane", "réactivation", "réactiver",
        "licence expirée", "a expiré",
        "quarantine", "quarantined", "held messages", "messages held", "release all", "quarantäne",
        "cuarentena", "quarantaine", "re verify", "reverify", "document à signer", "à examiner et signer",
        "zur unterschrift", "documento para firmar", "firmar el documento",
    ]
)  # fmt: skip
CALLBACK = Lexicon(
    [
        "did not authorize", "didn t authorize", "did not make this", "didn t make this", "not authorized by you",
        "call our", "call us", "helpline", "support line", "to cancel", "cancel this order", "auto renewal",
        "has been processed", "will be charged", "has been charged",
        "appelez", "rufen sie", "llame al", "llámenos", "hotline", "service d assistance", "support technique",
        "technischer support", "soporte técnico", "tech support",
    ]
)  # fmt: skip
NEW_CHANNEL = Lexicon(
    [
        "new number", "new phone", "new email", "new address", "phone broke", "lost my phone", "nuevo número",
        "nuevo correo", "correo nuevo", "móvil nuevo", "roto el móvil", "neue nummer", "neues handy",
        "handy kaputt", "neue adresse", "nouveau numéro", "nouveau téléphone", "nouvelle adresse",
    ]
)  # fmt: skip
THREAT = Lexicon(
    [
        "final notice", "final reminder", "legal action", "collection", "debt collector", "overdue",
        "unpaid", "suspended", "will be suspended", "blocked", "last warning", "mahnung", "inkasso",
        "inkasso*", "zahlungserinnerung", "gesperrt", "rechtliche schritte", "impago", "bloqueo", "suspendida",
        "último aviso", "mise en demeure", "impayée", "impayé", "recouvrement", "suspendu", "dernier rappel",
    ]
)  # fmt: skip
CUSTOMER_ESCALATION = Lexicon(
    [
        "contract", "renewal", "cancel", "churn", "third outage", "third time", "unacceptable", "escalat*",
        "sla", "ticket", "no answer", "terminate", "termination", "sans réponse", "sin respuesta",
        "keine antwort", "résilier", "résiliation", "kündigen", "kündigung", "rescindir", "cancelar",
    ]
)  # fmt: skip
PRESS_PRIVACY = Lexicon(
    [
        "reporter", "journalist", "press inquiry", "article", "gdpr", "data subject", "delete my data",
        "delete my personal data", "delete all my personal data", "personal data", "article 17",
        "right to erasure", "datenschutz", "dsgvo", "rgpd", "protección de datos", "données personnelles",
        "sous traitants", "subprocessor", "subprocessors", "soc 2", "questionnaire", "audit",
    ]
)  # fmt: skip
SOON = Lexicon(
    [
        "today", "tomorrow", "heute", "morgen", "hoy", "mañana", "aujourd hui", "demain", "noon", "tonight",
        "ce soir", "esta noche", "heute abend",
    ]
)  # fmt: skip
INFORMAL = Lexicon(["tu", "ta", "te", "du", "dich", "tú", "ti"])
URGENCY = Lexicon(
    [
        "urgent", "urgently", "asap", "immediately", "right away", "as soon as possible", "critical",
        "emergency", "time sensitive", "without delay", "by end of day", "by end of business", "eod",
        "final notice", "final reminder", "last chance", "act now", "expires today", "dringend", "sofort",
        "umgehend", "eilt", "notfall", "unverzüglich", "urgente", "inmediatamente", "lo antes posible",
        "cuanto antes", "immédiatement", "au plus vite", "dès que possible", "en urgence",
    ]
)  # fmt: skip
NEGATION = frozenset({"not", "nicht", "pas"})
BRANDS = {
    "microsoft": ("microsoft.com", "office.com", "outlook.com", "live.com"),
    "office 365": ("microsoft.com", "office.com"),
    "apple": ("apple.com", "icloud.com"),
    "app store": ("apple.com",),
    "paypal": ("paypal.com",),
    "amazon": ("amazon.com", "amazon.de", "amazon.es", "amazon.fr"),
    "docusign": ("docusign.net", "docusign.com"),
    "dhl": ("dhl.com", "dhl.de"),
    "google": ("google.com",),
    "netflix": ("netflix.com",),
}
BRAND_NAMES = Lexicon(BRANDS)
PUBLIC_MAIL_DOMAINS = frozenset(
    [
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "yahoo.com",
        "icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.de", "gmx.net", "web.de",
        "t-online.de", "freenet.de", "posteo.de", "mailbox.org", "yahoo.de", "yahoo.es", "hotmail.es",
        "telefonica.net", "orange.fr", "free.fr", "laposte.net", "sfr.fr", "wanadoo.fr", "yahoo.fr",
    ]
)  # fmt: skip
