#version 330 core
// Flat colours, no lighting. Dot quads keep only pixels whose centre is within the radius.

in vec3 v_color;
flat in vec2 v_centre;
flat in int v_is_dot;

uniform float u_dot_radius;
uniform int u_antialias;     // 1: multisampled target with alpha-to-coverage enabled

out vec4 f_color;

void main() {
    float alpha = 1.0;
    if (v_is_dot == 1) {
        vec2 d = gl_FragCoord.xy - v_centre;  // exact: both lie on the 1/256 px grid
        if (u_antialias == 1) {
            // Coverage of a pixel-wide ramp across the rim, turned into a sample mask.
            alpha = clamp(u_dot_radius + 0.5 - length(d), 0.0, 1.0);
            if (alpha <= 0.0) {
                discard;
            }
        } else if (dot(d, d) > u_dot_radius * u_dot_radius) {
            discard;
        }
    }
    f_color = vec4(v_color, alpha);
}
