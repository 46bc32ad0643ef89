package container

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Well-known accounts every rootfs gets.
const (
	rootUID   = 0
	nobodyUID = 65534
	// firstUserID is where ids for users and groups named without a number
	// start.
	firstUserID = 1000
)

// validName is the portable user and group name syntax (useradd's default).
func validName(s string) bool {
	return len(s) <= 32 && regexp.MustCompile(`^[a-z_][a-z0-9_-]*\$?$`).MatchString(s)
}

type passwdEntry struct {
	name        string
	uid, gid    uint32
	home, shell string
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// accounts is the user and group database of the rootfs.
type accounts struct {
	users  []passwdEntry
	groups []groupEntry
}

func (a *accounts) userByName(n string) *passwdEntry {
	for i := range a.users {
		if a.users[i].name == n {
			return &a.users[i]
		}
	}
	return nil
}

func (a *accounts) userByID(id uint32) *passwdEntry {
	for i := range a.users {
		if a.users[i].uid == id {
			return &a.users[i]
		}
	}
	return nil
}

func (a *accounts) groupByName(n string) *groupEntry {
	for i := range a.groups {
		if a.groups[i].name == n {
			return &a.groups[i]
		}
	}
	return nil
}

func (a *accounts) groupByID(id uint32) *groupEntry {
	for i := range a.groups {
		if a.groups[i].gid == id {
			return &a.groups[i]
		}
	}
	return nil
}

// freeID returns the first id from firstUserID on that no user or group has.
func (a *accounts) freeID() uint32 {
	for id := uint32(firstUserID); ; id++ {
		if a.userByID(id) == nil && a.groupByID(id) == nil {
			return id
		}
	}
}

// Identity is who the process runs as, resolved against the accounts.
type Identity struct {
	UID, GID       uint32
	User, Group    string
	Home           string
	AdditionalGids []uint32
}

// resolveAccounts builds /etc/passwd and /etc/group (root, nobody, the extra
// users and groups, and the process's user and group when they are not
// among them) and the process identity.
func resolveAccounts(opts Options) (*accounts, Identity, error) {
	a := &accounts{
		users: []passwdEntry{
			{name: "root", uid: rootUID, gid: rootUID, home: "/root", shell: "/sbin/nologin"},
			{name: "nobody", uid: nobodyUID, gid: nobodyUID, home: "/var/empty", shell: "/sbin/nologin"},
		},
		groups: []groupEntry{
			{name: "root", gid: rootUID},
			{name: "nobody", gid: nobodyUID},
		},
	}
	for _, name := range sortedKeys(opts.ExtraGroups) {
		g := opts.ExtraGroups[name]
		if !validName(name) {
			return nil, Identity{}, fmt.Errorf("extraGroups: %q is not a valid group name", name)
		}
		if old := a.groupByName(name); old != nil {
			old.gid = g.GID
			old.members = append([]string(nil), g.Members...)
			continue
		}
		a.groups = append(a.groups, groupEntry{name: name, gid: g.GID, members: append([]string(nil), g.Members...)})
	}
	for _, name := range sortedKeys(opts.ExtraUsers) {
		u := opts.ExtraUsers[name]
		if !validName(name) {
			return nil, Identity{}, fmt.Errorf("extraUsers: %q is not a valid user name", name)
		}
		gid := u.UID
		if u.GID != nil {
			gid = *u.GID
		}
		e := passwdEntry{name: name, uid: u.UID, gid: gid, home: u.Home, shell: u.Shell}
		if e.home == "" {
			e.home = "/home/" + name
		}
		if e.shell == "" {
			e.shell = "/sbin/nologin"
		}
		if !strings.HasPrefix(e.home, "/") || strings.ContainsAny(e.home+e.shell, ":\n") {
			return nil, Identity{}, fmt.Errorf("extraUsers.%s: home %q and shell %q must be absolute paths without ':'", name, e.home, e.shell)
		}
		if old := a.userByName(name); old != nil {
			*old = e
		} else {
			a.users = append(a.users, e)
		}
		if a.groupByID(gid) == nil && a.groupByName(name) == nil {
			a.groups = append(a.groups, groupEntry{name: name, gid: gid})
		}
	}

	user, err := a.resolveUser(opts.User)
	if err != nil {
		return nil, Identity{}, err
	}
	gid := user.gid
	if opts.Group != nil {
		g, err := a.resolveGroup(*opts.Group)
		if err != nil {
			return nil, Identity{}, err
		}
		gid = g.gid
	}
	group := a.groupByID(gid)
	if group == nil {
		a.groups = append(a.groups, groupEntry{name: a.freeGroupName(user.name), gid: gid})
		group = &a.groups[len(a.groups)-1]
	}
	id := Identity{UID: user.uid, GID: gid, User: user.name, Group: group.name, Home: user.home}
	for _, g := range a.groups {
		for _, m := range g.members {
			if m == user.name && g.gid != gid {
				id.AdditionalGids = append(id.AdditionalGids, g.gid)
			}
		}
	}
	sort.Slice(id.AdditionalGids, func(i, j int) bool { return id.AdditionalGids[i] < id.AdditionalGids[j] })
	return a, id, nil
}

// resolveUser finds the process's user, adding it when it is new: a new
// name gets the first free id from 1000, a new number the name "user" (or
// "userN" when taken).
func (a *accounts) resolveUser(ref *ID) (passwdEntry, error) {
	if ref == nil {
		return *a.userByID(rootUID), nil
	}
	if ref.Num != nil {
		if u := a.userByID(*ref.Num); u != nil {
			return *u, nil
		}
		name := "user"
		if a.userByName(name) != nil {
			name = fmt.Sprintf("user%d", *ref.Num)
		}
		e := passwdEntry{name: name, uid: *ref.Num, gid: *ref.Num, home: "/home/" + name, shell: "/sbin/nologin"}
		a.users = append(a.users, e)
		return e, nil
	}
	if !validName(ref.Name) {
		return passwdEntry{}, fmt.Errorf("user %q is not a valid user name or number", ref.Name)
	}
	if u := a.userByName(ref.Name); u != nil {
		return *u, nil
	}
	id := a.freeID()
	e := passwdEntry{name: ref.Name, uid: id, gid: id, home: "/home/" + ref.Name, shell: "/sbin/nologin"}
	a.users = append(a.users, e)
	if a.groupByName(ref.Name) == nil {
		a.groups = append(a.groups, groupEntry{name: ref.Name, gid: id})
	}
	return e, nil
}

// resolveGroup finds the process's group, adding it when it is new.
func (a *accounts) resolveGroup(ref ID) (groupEntry, error) {
	if ref.Num != nil {
		if g := a.groupByID(*ref.Num); g != nil {
			return *g, nil
		}
		e := groupEntry{name: a.freeGroupName("group"), gid: *ref.Num}
		a.groups = append(a.groups, e)
		return e, nil
	}
	if !validName(ref.Name) {
		return groupEntry{}, fmt.Errorf("group %q is not a valid group name or number", ref.Name)
	}
	if g := a.groupByName(ref.Name); g != nil {
		return *g, nil
	}
	e := groupEntry{name: ref.Name, gid: a.freeID()}
	a.groups = append(a.groups, e)
	return e, nil
}

func (a *accounts) freeGroupName(base string) string {
	name := base
	for i := 1; a.groupByName(name) != nil; i++ {
		name = fmt.Sprintf("%s%d", base, i)
	}
	return name
}

// passwd renders /etc/passwd, sorted by uid.
func (a *accounts) passwd() []byte {
	users := append([]passwdEntry(nil), a.users...)
	sort.SliceStable(users, func(i, j int) bool { return users[i].uid < users[j].uid })
	var b strings.Builder
	for _, u := range users {
		fmt.Fprintf(&b, "%s:x:%d:%d:%s:%s:%s\n", u.name, u.uid, u.gid, u.name, u.home, u.shell)
	}
	return []byte(b.String())
}

// group renders /etc/group, sorted by gid.
func (a *accounts) group() []byte {
	groups := append([]groupEntry(nil), a.groups...)
	sort.SliceStable(groups, func(i, j int) bool { return groups[i].gid < groups[j].gid })
	var b strings.Builder
	for _, g := range groups {
		fmt.Fprintf(&b, "%s:x:%d:%s\n", g.name, g.gid, strings.Join(g.members, ","))
	}
	return []byte(b.String())
}

// homes lists the users' home directories.
func (a *accounts) homes() []string {
	var out []string
	for _, u := range a.users {
		out = append(out, u.home)
	}
	sort.Strings(out)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
