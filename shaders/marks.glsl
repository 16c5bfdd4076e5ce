// Marks painted procedurally from the object-frame position and normal
// (gpu_render/scene/marks.py holds the same rules in numpy for the CPU reference).
// Included by scene.frag and scene_look.frag (gpu_render/render/shaders.py, #include).

uniform int u_mark_kind;      // 0 none, 1 face, 2 disc, 3 sphere X
uniform vec3 u_mark_centre;   // face/disc: centre; sphere X: (sin(width/2), arc, cos(dot radius))
uniform vec3 u_mark_normal;   // unit outward normal of the marked face
uniform float u_mark_radius;  // disc radius
uniform vec3 u_mark_color;
uniform vec3 u_mark_color2;   // sphere X: the dot

const float FLAT_COS = 0.999;

// The mark's colour at p (object frame) with unit normal n, or `otherwise`.
vec3 albedo_at(vec3 p, vec3 n, vec3 otherwise) {
    if (u_mark_kind == 1) {
        if (dot(n, u_mark_normal) >= FLAT_COS) return u_mark_color;
    } else if (u_mark_kind == 2) {
        vec3 d = p - u_mark_centre;
        if (dot(n, u_mark_normal) >= FLAT_COS && dot(d, d) <= u_mark_radius * u_mark_radius) return u_mark_color;
    } else if (u_mark_kind == 3) {
        vec3 q = normalize(p);
        if (q.z >= u_mark_centre.z) return u_mark_color2;
        bool along_x = abs(q.y) <= u_mark_centre.x && atan(abs(q.x), q.z) <= u_mark_centre.y;
        bool along_y = abs(q.x) <= u_mark_centre.x && atan(abs(q.y), q.z) <= u_mark_centre.y;
        if (along_x || along_y) return u_mark_color;
    }
    return otherwise;
}
